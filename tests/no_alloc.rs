//! `step` allocates nothing: a counting global allocator over `System` watches 100 steps of every
//! rule × element type. Only allocations made by the test's own thread count (the test harness
//! may allocate on its threads meanwhile).

use optim_kernels::{Config, Element, Optimizer, ParamGroup, bf16, f16};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: forwards to `System` unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn configs() -> Vec<Config> {
    vec![
        Config::new("SGD").set("lr", 0.1),
        Config::new("SGD")
            .set("lr", 0.1)
            .set("momentum", 0.9)
            .set("nesterov", true)
            .set("weight_decay", 0.01),
        Config::new("Adam")
            .set("weight_decay", 0.01)
            .set("amsgrad", true),
        Config::new("Adam").set("maximize", true),
        Config::new("AdamW"),
        Config::new("AdamW").set("amsgrad", true),
        Config::new("Lion")
            .set("weight_decay", 0.1)
            .set("decoupled_weight_decay", true),
        Config::new("RAdam")
            .set("weight_decay", 0.01)
            .set("decoupled_weight_decay", true),
        Config::new("RAdam")
            .set("maximize", true)
            .set("weight_decay", 0.01),
        Config::new("Rprop").set("maximize", true),
        Config::new("NAdam")
            .set("weight_decay", 0.01)
            .set("decoupled_weight_decay", true),
        Config::new("ASGD").set("t0", 2.0).set("weight_decay", 0.01),
        Config::new("SparseAdam")
            .set("maximize", true)
            .set("betas", (0.8, 0.99)),
        Config::new("ScheduleFreeWrapper")
            .set("base", Config::new("Rprop").set("lr", 0.01).to_dict()),
        Config::new("SGDScheduleFree").set("weight_decay", 0.01),
        Config::new("SGDScheduleFreeReference").set("warmup_steps", 5),
        Config::new("AdamWScheduleFree")
            .set("weight_decay", 0.01)
            .set("warmup_steps", 10),
        Config::new("AdamWScheduleFreePaper"),
        Config::new("AdamWScheduleFreeReference").set("decay_at_z", true),
        Config::new("RAdamScheduleFree").set("silent_sgd_phase", false),
        Config::new("ScheduleFreeWrapper")
            .set("weight_decay_at_y", 0.01)
            .set("base", Config::new("Adam").set("amsgrad", true).to_dict()),
        Config::new("RMSprop"),
        Config::new("RMSprop")
            .set("momentum", 0.9)
            .set("centered", true)
            .set("weight_decay", 0.01)
            .set("maximize", true),
        Config::new("Adagrad")
            .set("lr_decay", 0.01)
            .set("initial_accumulator_value", 0.1)
            .set("weight_decay", 0.01),
        Config::new("Adadelta")
            .set("weight_decay", 0.01)
            .set("maximize", true),
        Config::new("Adamax")
            .set("betas", (0.5, 0.99))
            .set("weight_decay", 0.01),
        Config::new("Adafactor")
            .set("weight_decay", 0.01)
            .set("maximize", true),
        Config::new("Muon").set("adjust_lr_fn", "match_rms_adamw"),
    ]
}

fn steps_allocate_nothing<P: Element>() {
    let groups = [
        ParamGroup::new([vec![17, 9], vec![3]]),
        ParamGroup::new([[1000]]).set("lr", 1e-4),
    ];
    // Muon takes matrices only: the same sizes as 2-D shapes (the middle one is the tensor
    // `step_tensor` updates, the last one tall, so the transposed path runs too).
    let matrices = [
        ParamGroup::new([vec![17, 9], vec![1, 3]]),
        ParamGroup::new([[40, 25]]).set("lr", 1e-4),
    ];
    for config in configs() {
        let groups = if config.name() == "Muon" {
            &matrices
        } else {
            &groups
        };
        let mut opt = Optimizer::<P>::build(groups, &config).unwrap();
        let mut params: Vec<Vec<P>> = [153usize, 3, 1000]
            .iter()
            .map(|&n| vec![P::from_compute(num_traits::cast(0.5).unwrap()); n])
            .collect();
        let grads: Vec<Option<Vec<P>>> = [153usize, 3, 1000]
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                (i != 1).then(|| vec![P::from_compute(num_traits::cast(0.01).unwrap()); n])
            })
            .collect();
        let mut single = vec![P::default(); 3];
        let g1 = vec![P::default(); 3];
        let mut eval_out = params[0].clone();
        // Row-sparse gradient of tensor 0 ([17, 9]): rows 1 (twice, summed), 5 and 16.
        let rows = [1usize, 1, 5, 16];
        let values = vec![P::from_compute(num_traits::cast(0.02).unwrap()); 4 * 9];
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for i in 0..100 {
            opt.step(&mut params, &grads).unwrap();
            if opt.has_modes() {
                // Schedule-free: eval()/train() and the pure evaluation view, every step.
                opt.eval_params_into(0, &params[0], &mut eval_out).unwrap();
                opt.eval(&mut params).unwrap();
                opt.train(&mut params).unwrap();
            } else {
                opt.step_tensor(1, &mut single, &g1).unwrap();
            }
            // SparseAdam takes it; every other optimizer refuses it, allocating nothing either.
            let sparse = opt.step_sparse(0, &mut params[0], &rows, &values);
            assert_eq!(sparse.is_ok(), config.name() == "SparseAdam");
            opt.set_lr(0, 1e-3 / (1.0 + i as f64)).unwrap();
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(
            after - before,
            0,
            "{} with {} params allocated in step",
            config.name(),
            P::NAME
        );
    }
}

/// `Optimizer::step_closure` allocates nothing: LBFGS (both line-search modes, a history that
/// wraps) and a closure-stepped AdamW, over a quadratic whose closure allocates nothing either.
fn step_closure_allocates_nothing<P: Element>() {
    let configs = [
        Config::new("LBFGS").set("history_size", 3).set("lr", 0.5),
        Config::new("LBFGS")
            .set("history_size", 3)
            .set("line_search_fn", "strong_wolfe"),
        Config::new("AdamW"),
    ];
    let closure = |params: &[Vec<P>], grads: &mut [Vec<P>]| {
        // f = Σ k·(p − 1)²/2 with k = 1 + (element index mod 7)
        let mut f = 0.0f64;
        for (p, g) in params.iter().zip(grads.iter_mut()) {
            for (i, (p, g)) in p.iter().zip(g.iter_mut()).enumerate() {
                let k = 1.0 + (i % 7) as f64;
                let e = p.to_f64() - 1.0;
                f += 0.5 * k * e * e;
                *g = P::from_f64(k * e);
            }
        }
        f
    };
    for config in configs {
        let mut opt = Optimizer::<P>::build(
            &[ParamGroup::new([vec![17, 9], vec![3], vec![1000]])],
            &config,
        )
        .unwrap();
        let mut params: Vec<Vec<P>> = [153usize, 3, 1000]
            .iter()
            .map(|&n| vec![P::from_f64(0.25); n])
            .collect();
        let mut grads: Vec<Vec<P>> = params.iter().map(|p| vec![P::default(); p.len()]).collect();
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let mut first = None;
        let mut last = 0.0;
        for i in 0..100 {
            // Move away from the optimum now and then, so that every step has work to do.
            if i % 10 == 0 {
                params[2][i] = P::from_f64(-2.0);
            }
            last = opt.step_closure(&mut params, &mut grads, closure).unwrap();
            first.get_or_insert(last);
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(
            after - before,
            0,
            "{} with {} params allocated in step_closure",
            config.name(),
            P::NAME
        );
        assert!(
            last < first.unwrap(),
            "{}: the loss did not fall",
            config.name()
        );
    }
}

#[test]
fn step_allocates_nothing_for_every_rule_and_dtype() {
    COUNTING.with(|c| c.set(true));
    steps_allocate_nothing::<f64>();
    steps_allocate_nothing::<f32>();
    steps_allocate_nothing::<bf16>();
    steps_allocate_nothing::<f16>();
    step_closure_allocates_nothing::<f64>();
    step_closure_allocates_nothing::<f32>();
    step_closure_allocates_nothing::<bf16>();
    step_closure_allocates_nothing::<f16>();
    // And the counter does count: building allocates.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let _opt = Optimizer::<f32>::build(&[ParamGroup::new([[4]])], &Config::new("Adam")).unwrap();
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before);
}
