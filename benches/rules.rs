//! One optimizer step per rule, element type and size, beside the memory-streaming limit of the
//! same bytes (the workloads of `examples/throughput.rs`).
//!
//! ```text
//! cargo bench --bench rules                                   # everything, a few minutes
//! cargo bench --bench rules -- adamw/f32                      # one rule and dtype
//! cargo bench --bench rules -- 'adam/f32/.*/1048576' --warm-up-time 0.2 --measurement-time 0.5
//! RUSTFLAGS="-C target-cpu=native" cargo bench --bench rules
//! ```
//!
//! Groups are rule keys (`sgd`, `sgd_momentum`, `adam`, `adamw`, `lion`, `rmsprop`, `adagrad`,
//! `adadelta`, `adamax`, `radam`, `rprop`, `sparse_adam` (dense gradients), `nadam`, `asgd` and the schedule-free keys of
//! `examples/throughput.rs`); benchmark ids are
//! `{rule}/{dtype}/{what}/{n}` where `what` is
//! - `step`: [`Rule::step`] (the SIMD path);
//! - `scalar`: the same update with scalar lanes (`Rule::update_with::<P, S, P::Compute>`), f32 at
//!   1 048 576 only;
//! - `stream`: a loop that reads and writes exactly the same arrays (same element types, same
//!   in-place writes) with trivial integer arithmetic: the memory-bound limit.
//!
//! Throughput is `bytes_per_elem × n` with `bytes_per_elem = 3·sizeof(P) + 2·slots·sizeof(S)`
//! (read p and g, write p; read and write every state slot). Parameters are f32 or bf16, state is
//! f32. Sizes: 65 536, 1 000 003 (odd, exercises the tail), 1 048 576 and 16 777 216 (10 samples,
//! flat sampling). One thread.
//!
//! The shape-aware rules (`adafactor`, `muon`) see `n` elements as a matrix, as in
//! `examples/throughput.rs`: Adafactor `[n / 1024, 1024]`, Muon `[64, n / 64]` (its five
//! Newton–Schulz iterations cost ~640 flops per element: compute-bound); sizes 65 536 and
//! 1 048 576, `step` and `scalar` (scalar lanes for the elementwise parts and the matrix
//! products), throughput counted as `3·sizeof(P) + 2·sizeof(S)` bytes per element.

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use optim_kernels::rules::{
    Adadelta, Adafactor, Adagrad, Adam, AdamW, AdamWScheduleFree, Adamax, Asgd, Lion, Muon, NAdam,
    RAdam, RAdamScheduleFree, RmsProp, Rprop, Rule, ScheduleFreeWrapper, Sgd, SgdScheduleFree,
    ShapedRule, SparseAdam,
};
use optim_kernels::{Element, bf16};
use std::hint::black_box;
use std::time::Duration;

/// Sizes in benchmark order; the largest last, since its smaller sample size sticks to the group.
const SIZES: [usize; 4] = [1 << 16, 1_000_003, 1 << 20, 1 << 24];
/// Sizes from this one on get `sample_size(10)` and flat sampling.
const LARGE: usize = 1 << 24;
/// The size at which the SIMD path is compared with the scalar path (f32 only).
const SCALAR_AT: usize = 1 << 20;

#[path = "../examples/common/stream.rs"]
mod stream;
use stream::{Bits, baseline};

/// Benchmarks one (rule, dtype, size): `step`, optionally `scalar`, then `stream`, all over the
/// same buffers. State is f32.
fn run<P, R>(group: &mut BenchmarkGroup<'_, WallTime>, rule: &R, n: usize, scalar: bool)
where
    P: Bits + Element<Compute = f32>,
    R: Rule,
{
    type S = f32;
    let k = rule.slots();
    // The same deterministic data as examples/throughput.rs.
    let mut p: Vec<P> = (0..n)
        .map(|i| P::from_compute(((i % 97) as f32 - 48.0) * 0.01))
        .collect();
    let g: Vec<P> = (0..n)
        .map(|i| P::from_compute(((i % 89) as f32 - 44.0) * 1e-3))
        .collect();
    let mut s: Vec<S> = vec![0.0; rule.state_len(n)];
    let bytes = 3 * size_of::<P>() + 2 * k * size_of::<S>();
    group.throughput(Throughput::Bytes((bytes * n) as u64));
    let mut t = 0u64;
    let mut schedule = R::Schedule::default();
    let mut ts = R::TensorState::default();

    group.bench_function(BenchmarkId::new(format!("{}/step", P::NAME), n), |b| {
        b.iter(|| {
            let sc = rule.begin_step(&mut schedule);
            rule.step_tensor_with(
                &sc,
                &mut t,
                &mut ts,
                black_box(&mut p),
                black_box(&g),
                black_box(&mut s),
            )
            .unwrap();
        })
    });
    if scalar {
        group.bench_function(BenchmarkId::new(format!("{}/scalar", P::NAME), n), |b| {
            b.iter(|| {
                t = t.saturating_add(1);
                let sc = rule.begin_step(&mut schedule);
                let sc = rule.begin_tensor(&sc, t, &mut ts);
                rule.update_with::<P, S, P::Compute>(
                    &sc,
                    t,
                    black_box(&mut p),
                    black_box(&g),
                    black_box(&mut s),
                );
            })
        });
    }
    group.bench_function(BenchmarkId::new(format!("{}/stream", P::NAME), n), |b| {
        b.iter(|| baseline(black_box(&mut p), black_box(&g), black_box(&mut s)))
    });
}

fn bench_rule<R: Rule>(c: &mut Criterion, key: &str, rule: &R) {
    let mut group = c.benchmark_group(key);
    for n in SIZES {
        if n >= LARGE {
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
        }
        run::<f32, R>(&mut group, rule, n, n == SCALAR_AT);
        run::<bf16, R>(&mut group, rule, n, false);
    }
    group.finish();
}

/// One shaped rule over `[rows, n / rows]` (`rows = n / width` for Adafactor's width 1024, 64
/// for Muon): `step` (SIMD lanes) and `scalar`.
fn bench_shaped<R: ShapedRule>(
    c: &mut Criterion,
    key: &str,
    rule: &R,
    shape: fn(usize) -> [usize; 2],
) where
    R::Work: Clone,
{
    type S = f32;
    let mut group = c.benchmark_group(key);
    for n in [1usize << 16, 1 << 20] {
        let shape = shape(n);
        let mut p: Vec<f32> = (0..n).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
        let g: Vec<f32> = (0..n).map(|i| ((i % 89) as f32 - 44.0) * 1e-3).collect();
        let mut s: Vec<S> = vec![0.0; rule.state_len(&shape)];
        let mut w = vec![R::Work::default(); rule.workspace_len(&shape)];
        group.throughput(Throughput::Bytes((5 * 4 * n) as u64));
        let mut t = 0u64;
        group.bench_function(BenchmarkId::new("f32/step", n), |b| {
            b.iter(|| {
                rule.step(
                    &mut t,
                    &shape,
                    black_box(&mut p),
                    black_box(&g),
                    &mut s,
                    &mut w,
                )
                .unwrap();
            })
        });
        group.bench_function(BenchmarkId::new("f32/scalar", n), |b| {
            b.iter(|| {
                t = t.saturating_add(1);
                rule.update_with::<f32, S, f32, f32>(
                    t,
                    &shape,
                    black_box(&mut p),
                    black_box(&g),
                    &mut s,
                    &mut w,
                );
            })
        });
    }
    group.finish();
}

/// The rule keys and configurations of examples/throughput.rs.
fn rules(c: &mut Criterion) {
    let sgd = Sgd {
        lr: 1e-3,
        ..Sgd::DEFAULT
    };
    bench_rule(c, "sgd", &sgd);
    let sgd_momentum = Sgd {
        lr: 1e-3,
        momentum: 0.9,
        ..Sgd::DEFAULT
    };
    bench_rule(c, "sgd_momentum", &sgd_momentum);
    bench_rule(c, "adam", &Adam::ADAM);
    bench_rule(c, "adamw", &AdamW::DEFAULT);
    let lion = Lion {
        weight_decay: 0.01,
        ..Lion::DEFAULT
    };
    bench_rule(c, "lion", &lion);
    bench_rule(c, "rmsprop", &RmsProp::DEFAULT);
    bench_rule(c, "adagrad", &Adagrad::DEFAULT);
    bench_rule(c, "adadelta", &Adadelta::DEFAULT);
    bench_rule(c, "adamax", &Adamax::DEFAULT);
    bench_rule(c, "radam", &RAdam::DEFAULT);
    bench_rule(c, "rprop", &Rprop::DEFAULT);
    bench_rule(c, "sparse_adam", &SparseAdam::DEFAULT);
    bench_rule(c, "nadam", &NAdam::DEFAULT);
    let asgd = Asgd {
        t0: 0.0,
        ..Asgd::DEFAULT
    };
    bench_rule(c, "asgd", &asgd);
    let sf = AdamWScheduleFree {
        weight_decay: 0.01,
        warmup_steps: 10,
        ..AdamWScheduleFree::DEFAULT
    };
    bench_rule(c, "adamw_schedulefree", &sf);
    bench_rule(c, "sgd_schedulefree", &SgdScheduleFree::DEFAULT);
    bench_rule(c, "radam_schedulefree", &RAdamScheduleFree::DEFAULT);
    let wrapper = ScheduleFreeWrapper::new(Sgd {
        lr: 1e-3,
        ..Sgd::DEFAULT
    });
    bench_rule(c, "schedulefree_wrapper_sgd", &wrapper);
    bench_shaped(c, "adafactor", &Adafactor::DEFAULT, |n| [n / 1024, 1024]);
    bench_shaped(c, "muon", &Muon::DEFAULT, |n| [64, n / 64]);
}

criterion_group! {
    name = benches;
    // Shorter than criterion's defaults (3 s + 5 s) so that the whole file takes a few minutes;
    // `--warm-up-time` / `--measurement-time` on the command line still override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = rules
}
criterion_main!(benches);
