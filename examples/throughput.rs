//! Time per element of one optimizer step, beside the memory-streaming limit of the same bytes.
//!
//! ```text
//! cargo run --release --example throughput -- --json [--rule R] [--dtype D] [--n N]
//! RUSTFLAGS="-C target-cpu=native" cargo run --release --example throughput -- --json
//! ```
//!
//! Prints one JSON line per (rule, dtype, n):
//! `{"rule":"adamw","dtype":"f32","n":1048576,"ns_per_elem":0.41,"bytes_per_elem":28,"gbps":68.3,"limit_ns_per_elem":0.38,"ratio":0.93}`
//! where `limit_ns_per_elem` is a loop that reads and writes exactly the same arrays (same
//! element types, same in-place writes) with trivial integer arithmetic, measured in the same run,
//! and `ratio = limit / ours` (1.0 = at the limit). One thread; the median of repeated timed
//! steps after a warm-up, each alternating with the baseline so drift hits both alike.
//!
//! `--floor` prints instead what a correctly rounded square root and a division cost per element
//! on this core, on f32 data that stays in L1 (`floor_sqrt`, `floor_div`, `floor_sqrt_div`): the
//! time below which no exact kernel taking that many roots and divisions per element can go,
//! however fast the memory (see BENCHMARKS.md).

use optim_kernels::rules::{
    Adadelta, Adafactor, Adagrad, Adam, AdamW, AdamWScheduleFree, Adamax, Asgd, AsgdScalars, Lion,
    Muon, NAdam, NAdamScalars, RAdam, RAdamScheduleFree, RmsProp, Rprop, Rule, Schedule,
    ScheduleFreeWrapper, Sgd, SgdScheduleFree, ShapedRule, SparseAdam,
};
use optim_kernels::{Element, bf16, f16};
use std::hint::black_box;
use std::time::Instant;

#[path = "common/stream.rs"]
mod stream;
use stream::{Bits, baseline};

#[derive(Clone)]
enum AnyRule {
    Sgd(Sgd),
    Adam(Adam),
    AdamW(AdamW),
    Lion(Lion),
    RmsProp(RmsProp),
    Adagrad(Adagrad),
    Adadelta(Adadelta),
    Adamax(Adamax),
    RAdam(RAdam),
    Rprop(Rprop),
    SparseAdam(SparseAdam),
    NAdam(NAdam),
    Asgd(Asgd),
    AdamWScheduleFree(AdamWScheduleFree),
    SgdScheduleFree(SgdScheduleFree),
    RAdamScheduleFree(RAdamScheduleFree),
    Wrapper(ScheduleFreeWrapper<Sgd>),
    /// Shape-aware: `n` elements as a `[n / 1024, 1024]` matrix (factored second moment).
    Adafactor(Adafactor),
    /// Shape-aware: `n` elements as a `[64, n / 64]` matrix (five Newton–Schulz iterations
    /// cost about 640 flops per element, so this measures compute, not memory).
    Muon(Muon),
}

/// The matrix shape a shaped rule sees for `n` elements (`n` a multiple of its width).
fn matrix_shape(rule: &AnyRule, n: usize) -> [usize; 2] {
    match rule {
        AnyRule::Muon(_) => [64.min(n), n / 64.min(n).max(1)],
        _ => [n / 1024.min(n).max(1), 1024.min(n)],
    }
}

macro_rules! each {
    ($self:expr, $r:ident => $e:expr) => {
        match $self {
            AnyRule::Sgd($r) => $e,
            AnyRule::Adam($r) => $e,
            AnyRule::AdamW($r) => $e,
            AnyRule::Lion($r) => $e,
            AnyRule::RmsProp($r) => $e,
            AnyRule::Adagrad($r) => $e,
            AnyRule::Adadelta($r) => $e,
            AnyRule::Adamax($r) => $e,
            AnyRule::RAdam($r) => $e,
            AnyRule::Rprop($r) => $e,
            AnyRule::SparseAdam($r) => $e,
            AnyRule::NAdam($r) => $e,
            AnyRule::Asgd($r) => $e,
            AnyRule::AdamWScheduleFree($r) => $e,
            AnyRule::SgdScheduleFree($r) => $e,
            AnyRule::RAdamScheduleFree($r) => $e,
            AnyRule::Wrapper($r) => $e,
            AnyRule::Adafactor(_) | AnyRule::Muon(_) => unreachable!("shape-aware rule"),
        }
    };
}

/// What one tensor's updates carry besides its elementwise state: its group's schedule
/// (schedule-free rules) and its per-tensor scalars (NAdam, ASGD).
#[derive(Default)]
struct Carried {
    schedule: Schedule,
    nadam: NAdamScalars,
    asgd: AsgdScalars,
}

/// One update of a tensor whose rule keeps per-tensor scalars.
fn tensor_step<R: Rule<Schedule = ()>, P: Element, S: Element<Compute = P::Compute>>(
    r: &R,
    ts: &mut R::TensorState,
    t: &mut u64,
    p: &mut [P],
    g: &[P],
    s: &mut [S],
) -> Result<(), optim_kernels::Error> {
    let sc = r.begin_step(&mut ());
    r.step_tensor_with(&sc, t, ts, p, g, s)
}

/// Runs one step of a group holding one tensor: the group's schedule (schedule-free rules)
/// advances, then the tensor is updated.
fn group_step<
    R: Rule<Schedule = Schedule, TensorState = ()>,
    P: Element,
    S: Element<Compute = P::Compute>,
>(
    r: &R,
    schedule: &mut Schedule,
    t: &mut u64,
    p: &mut [P],
    g: &[P],
    s: &mut [S],
) -> Result<(), optim_kernels::Error> {
    let sc = r.begin_step(schedule);
    r.step_with(&sc, t, p, g, s)
}

impl AnyRule {
    /// State slots per element (the shaped rules: their state over `n` elements, rounded up).
    fn slots(&self) -> usize {
        match self {
            AnyRule::Adafactor(_) => 0,
            AnyRule::Muon(_) => 1,
            r => each!(r, r => Rule::slots(r)),
        }
    }
    #[inline(never)]
    fn step<P: Element, S: Element<Compute = P::Compute>>(
        &self,
        carried: &mut Carried,
        t: &mut u64,
        p: &mut [P],
        g: &[P],
        s: &mut [S],
    ) {
        let schedule = &mut carried.schedule;
        let r = match self {
            AnyRule::Adafactor(r) => shaped_step(r, self, t, p, g, s),
            AnyRule::Muon(r) => shaped_step(r, self, t, p, g, s),
            AnyRule::Sgd(r) => r.step(t, p, g, s),
            AnyRule::Adam(r) => r.step(t, p, g, s),
            AnyRule::AdamW(r) => r.step(t, p, g, s),
            AnyRule::Lion(r) => r.step(t, p, g, s),
            AnyRule::RAdam(r) => r.step(t, p, g, s),
            AnyRule::Rprop(r) => r.step(t, p, g, s),
            AnyRule::SparseAdam(r) => r.step(t, p, g, s),
            AnyRule::NAdam(r) => tensor_step(r, &mut carried.nadam, t, p, g, s),
            AnyRule::Asgd(r) => tensor_step(r, &mut carried.asgd, t, p, g, s),
            AnyRule::AdamWScheduleFree(r) => group_step(r, schedule, t, p, g, s),
            AnyRule::SgdScheduleFree(r) => group_step(r, schedule, t, p, g, s),
            AnyRule::RAdamScheduleFree(r) => group_step(r, schedule, t, p, g, s),
            AnyRule::Wrapper(r) => group_step(r, schedule, t, p, g, s),
            AnyRule::RmsProp(r) => r.step(t, p, g, s),
            AnyRule::Adagrad(r) => r.step(t, p, g, s),
            AnyRule::Adadelta(r) => r.step(t, p, g, s),
            AnyRule::Adamax(r) => r.step(t, p, g, s),
        };
        if let Err(e) = r {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// One step of a shaped rule over `p` as a matrix, its state at the front of `s` and a workspace
/// kept per thread (allocated once per shape, outside the timed steps after the warm-up).
fn shaped_step<R: ShapedRule, P: Element, S: Element<Compute = P::Compute>>(
    r: &R,
    any: &AnyRule,
    t: &mut u64,
    p: &mut [P],
    g: &[P],
    s: &mut [S],
) -> Result<(), optim_kernels::Error> {
    use std::cell::RefCell;
    thread_local! {
        static WORK: RefCell<(Vec<f64>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    let shape = matrix_shape(any, p.len());
    let state = &mut s[..r.state_len(&shape)];
    WORK.with_borrow_mut(|(w64, w32)| {
        let n = r.workspace_len(&shape);
        match any {
            AnyRule::Adafactor(a) => {
                w64.resize(n, 0.0);
                a.step(t, &shape, p, g, state, w64)
            }
            AnyRule::Muon(m) => {
                w32.resize(n, 0.0);
                m.step(t, &shape, p, g, state, w32)
            }
            _ => unreachable!(),
        }
    })
}

/// Rule keys of the throughput report, with the configuration each measures.
fn rules() -> Vec<(&'static str, AnyRule)> {
    vec![
        (
            "sgd",
            AnyRule::Sgd(Sgd {
                lr: 1e-3,
                ..Sgd::DEFAULT
            }),
        ),
        (
            "sgd_momentum",
            AnyRule::Sgd(Sgd {
                lr: 1e-3,
                momentum: 0.9,
                ..Sgd::DEFAULT
            }),
        ),
        ("adam", AnyRule::Adam(Adam::ADAM)),
        ("adamw", AnyRule::AdamW(AdamW::DEFAULT)),
        (
            "lion",
            AnyRule::Lion(Lion {
                weight_decay: 0.01,
                ..Lion::DEFAULT
            }),
        ),
        ("rmsprop", AnyRule::RmsProp(RmsProp::DEFAULT)),
        ("adagrad", AnyRule::Adagrad(Adagrad::DEFAULT)),
        ("adadelta", AnyRule::Adadelta(Adadelta::DEFAULT)),
        ("adamax", AnyRule::Adamax(Adamax::DEFAULT)),
        ("radam", AnyRule::RAdam(RAdam::DEFAULT)),
        ("rprop", AnyRule::Rprop(Rprop::DEFAULT)),
        ("sparse_adam", AnyRule::SparseAdam(SparseAdam::DEFAULT)),
        ("nadam", AnyRule::NAdam(NAdam::DEFAULT)),
        (
            "asgd",
            AnyRule::Asgd(Asgd {
                t0: 0.0, // averaging from the first steps: the rule's full work per element
                ..Asgd::DEFAULT
            }),
        ),
        (
            "adamw_schedulefree",
            AnyRule::AdamWScheduleFree(AdamWScheduleFree {
                weight_decay: 0.01,
                warmup_steps: 10,
                ..AdamWScheduleFree::DEFAULT
            }),
        ),
        (
            "sgd_schedulefree",
            AnyRule::SgdScheduleFree(SgdScheduleFree::DEFAULT),
        ),
        (
            "radam_schedulefree",
            AnyRule::RAdamScheduleFree(RAdamScheduleFree::DEFAULT),
        ),
        (
            "schedulefree_wrapper_sgd",
            AnyRule::Wrapper(ScheduleFreeWrapper::new(Sgd {
                lr: 1e-3,
                ..Sgd::DEFAULT
            })),
        ),
        ("adafactor", AnyRule::Adafactor(Adafactor::DEFAULT)),
        ("muon", AnyRule::Muon(Muon::DEFAULT)),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn measure<P: Bits, S: Bits + Element<Compute = P::Compute>>(
    rule: &AnyRule,
    n: usize,
) -> (f64, f64, usize) {
    let k = rule.slots();
    // A shaped rule's state may be longer than `k·n` (Adafactor's factors): room for it.
    let shape = matrix_shape(rule, n);
    let shaped_len = match rule {
        AnyRule::Adafactor(a) => a.state_len(&shape),
        AnyRule::Muon(m) => m.state_len(&shape),
        _ => 0,
    };
    // Buffers start on 64-byte boundaries, as PyTorch's CPU allocator aligns tensors (a Vec of
    // this size comes from mmap at 16 bytes past a page, so every other 32-byte load would split
    // a cache line).
    let mut p_buf = aligned::<P>(n);
    let mut g_buf = aligned::<P>(n);
    let mut s_buf = aligned::<S>((k * n).max(shaped_len));
    let (p, g, s) = (p_buf.slice(), g_buf.slice(), s_buf.slice());
    // The baseline streams `k` state slots.
    let s_stream_len = k * n;
    for (i, x) in p.iter_mut().enumerate() {
        *x = P::from_f64(((i % 97) as f64 - 48.0) * 0.01);
    }
    for (i, x) in g.iter_mut().enumerate() {
        *x = P::from_f64(((i % 89) as f64 - 44.0) * 1e-3);
    }
    let g: &[P] = g;
    let bytes = std::mem::size_of::<P>() * 3 + std::mem::size_of::<S>() * 2 * k;
    // Repeat steps per sample so that one sample takes ≥ ~3 ms.
    let reps = (3_000_000 / (n * bytes / 8).max(1)).max(1);
    let mut t = 0u64;
    let mut sched = Carried::default();
    for _ in 0..3 {
        rule.step(&mut sched, &mut t, p, g, s);
        baseline(p, g, &mut s[..s_stream_len]);
    }
    let (mut ours, mut limit) = (Vec::new(), Vec::new());
    let samples = if n >= 1 << 24 { 9 } else { 21 };
    for _ in 0..samples {
        let t0 = Instant::now();
        for _ in 0..reps {
            rule.step(
                &mut sched,
                &mut t,
                black_box(&mut *p),
                black_box(g),
                black_box(&mut *s),
            );
        }
        ours.push(t0.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64);
        let t0 = Instant::now();
        for _ in 0..reps {
            baseline(
                black_box(&mut *p),
                black_box(g),
                black_box(&mut s[..s_stream_len]),
            );
        }
        limit.push(t0.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64);
    }
    black_box((&p, &s));
    (median(ours), median(limit), bytes)
}

/// A zeroed buffer of `n` elements whose slice starts on a 64-byte boundary.
struct Aligned<T> {
    buf: Vec<T>,
    offset: usize,
    n: usize,
}

impl<T> Aligned<T> {
    fn slice(&mut self) -> &mut [T] {
        &mut self.buf[self.offset..self.offset + self.n]
    }
}

fn aligned<T: Element>(n: usize) -> Aligned<T> {
    let extra = 64 / std::mem::size_of::<T>();
    let buf = vec![T::default(); n + extra];
    let offset = buf.as_ptr().align_offset(64).min(extra);
    Aligned { buf, offset, n }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut json = false;
    let mut floor = false;
    let (mut rule_f, mut dtype_f, mut n_f) = (None::<String>, None::<String>, None::<usize>);
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| {
            args.get(i + 1)
                .cloned()
                .unwrap_or_else(|| fail(&format!("{} needs a value", args[i])))
        };
        match args[i].as_str() {
            "--json" => json = true,
            "--floor" => floor = true,
            "--rule" => (rule_f, i) = (Some(val(i)), i + 1),
            "--dtype" => (dtype_f, i) = (Some(val(i)), i + 1),
            "--n" => {
                (n_f, i) = (
                    Some(
                        val(i)
                            .parse()
                            .unwrap_or_else(|_| fail("--n takes a number")),
                    ),
                    i + 1,
                )
            }
            "--help" | "-h" => {
                println!(
                    "throughput [--json] [--floor] [--rule sgd|sgd_momentum|adam|adamw|lion|rmsprop|adagrad|adadelta|adamax|radam|rprop|sparse_adam|nadam|asgd|adamw_schedulefree|sgd_schedulefree|radam_schedulefree|schedulefree_wrapper_sgd|adafactor|muon] [--dtype f32|bf16|f16|f64] [--n N]"
                );
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
        i += 1;
    }
    if floor {
        floors(json);
        return;
    }
    let sizes = n_f.map_or_else(|| vec![1 << 16, 1 << 20, 1 << 24], |n| vec![n]);
    let dtypes: Vec<String> =
        dtype_f.map_or_else(|| vec!["f32".into(), "bf16".into()], |d| vec![d]);
    let all = rules();
    if let Some(r) = &rule_f
        && !all.iter().any(|(k, _)| k == r)
    {
        fail(&format!("unknown rule {r}"));
    }
    if !json {
        println!(
            "{:<14} {:<5} {:>9} {:>10} {:>8} {:>10} {:>6}",
            "rule", "dtype", "n", "ns/elem", "GB/s", "limit ns", "ratio"
        );
    }
    for (key, rule) in all
        .iter()
        .filter(|(k, _)| rule_f.as_deref().is_none_or(|r| r == *k))
    {
        for dtype in &dtypes {
            for &n in &sizes {
                let (ns, lim, bytes) = match dtype.as_str() {
                    "f32" => measure::<f32, f32>(rule, n),
                    "f64" => measure::<f64, f64>(rule, n),
                    "bf16" => measure::<bf16, f32>(rule, n),
                    "f16" => measure::<f16, f32>(rule, n),
                    d => fail(&format!("unknown dtype {d}")),
                };
                let gbps = bytes as f64 / ns;
                if json {
                    println!(
                        "{{\"rule\":\"{key}\",\"dtype\":\"{dtype}\",\"n\":{n},\"ns_per_elem\":{ns:.4},\"bytes_per_elem\":{bytes},\"gbps\":{gbps:.2},\"limit_ns_per_elem\":{lim:.4},\"ratio\":{:.3}}}",
                        lim / ns
                    );
                } else {
                    println!(
                        "{key:<14} {dtype:<5} {n:>9} {ns:>10.4} {gbps:>8.2} {lim:>10.4} {:>6.3}",
                        lim / ns
                    );
                }
            }
        }
    }
}

#[inline(never)]
fn roots(a: &[f32], _: &[f32], y: &mut [f32]) {
    for (y, a) in y.iter_mut().zip(a) {
        *y = a.sqrt();
    }
}

#[inline(never)]
fn quotients(a: &[f32], b: &[f32], y: &mut [f32]) {
    for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
        *y = a / b;
    }
}

#[inline(never)]
fn root_quotients(a: &[f32], b: &[f32], y: &mut [f32]) {
    for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
        *y = a / (b.sqrt() + 1e-8);
    }
}

/// `floor_sqrt_div` with `a` read and the result written as bf16 through the crate's exact
/// conversions (two more streams' worth of shuffles and shifts per element): how much of the
/// conversion work can hide behind the divider on this core.
#[inline(never)]
fn root_quotients_bf16(a: &[bf16], b: &[f32], y: &mut [bf16]) {
    for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
        *y = bf16::from_compute(a.to_compute() / (b.sqrt() + 1e-8));
    }
}

/// `--floor`: ns per element of a root, a division, and both, over 4096 f32 values (48 KiB in
/// all, in L1), the median of 21 samples of ~1 ms; and the last with bf16 input and output.
fn floors(json: bool) {
    const N: usize = 4096;
    let a: Vec<f32> = (0..N).map(|i| 1.0 + (i % 89) as f32 * 1e-3).collect();
    let b: Vec<f32> = (0..N).map(|i| 1e-6 + (i % 97) as f32 * 1e-4).collect();
    let mut y = vec![0f32; N];
    type Kernel = fn(&[f32], &[f32], &mut [f32]);
    let kernels: [(&str, Kernel); 3] = [
        ("floor_sqrt", roots),
        ("floor_div", quotients),
        ("floor_sqrt_div", root_quotients),
    ];
    let a16: Vec<bf16> = a.iter().map(|&x| bf16::from_f32(x)).collect();
    let mut y16 = vec![bf16::ZERO; N];
    let time = |f: &mut dyn FnMut()| {
        let reps = 1000;
        let mut samples = Vec::new();
        for _ in 0..22 {
            let t0 = Instant::now();
            for _ in 0..reps {
                f();
            }
            samples.push(t0.elapsed().as_secs_f64() * 1e9 / (reps * N) as f64);
        }
        samples.remove(0); // warm-up
        median(samples)
    };
    let mut results = Vec::new();
    for (key, kernel) in kernels {
        let ns = time(&mut || kernel(black_box(&a), black_box(&b), black_box(&mut y)));
        results.push((key, "f32", ns));
    }
    let ns = time(&mut || root_quotients_bf16(black_box(&a16), black_box(&b), black_box(&mut y16)));
    results.push(("floor_sqrt_div", "bf16", ns));
    for (key, dtype, ns) in results {
        if json {
            println!(
                "{{\"rule\":\"{key}\",\"dtype\":\"{dtype}\",\"n\":{N},\"ns_per_elem\":{ns:.4}}}"
            );
        } else {
            println!("{key:<14} {dtype:<5} {N:>9} {ns:>10.4}");
        }
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}
