//! Arbitrary bits (NaN, infinities, subnormals included) through every rule: the SIMD and scalar
//! paths agree bit for bit on parameters and state (every NaN counts as one value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use optim_kernels::rules::{
    Adadelta, Adagrad, Adam, AdamW, AdamWScheduleFree, AdamWScheduleFreeReference, Adamax, Asgd,
    Lion, NAdam, RAdam, RAdamScheduleFree, RmsProp, Rprop, Rule, ScheduleFreeWrapper, Sgd, SparseAdam,
    SgdScheduleFree,
};

fn check<R: Rule>(rule: &R, step: u64, p: &[f32], g: &[f32], s: &[f32]) {
    let n = p.len();
    let k = rule.slots();
    let mut s = s.iter().copied().cycle().take(k * n).collect::<Vec<_>>();
    if s.len() < k * n {
        s.resize(k * n, 0.0);
    }
    let (mut p1, mut s1) = (p.to_vec(), s.clone());
    let (mut p2, mut s2) = (p.to_vec(), s);
    // A schedule advanced `step` times (schedule-free rules; `()` for the others).
    let mut schedule = R::Schedule::default();
    let mut sc = rule.begin_step(&mut schedule);
    for _ in 1..step.min(64) {
        sc = rule.begin_step(&mut schedule);
    }
    let sc = rule.begin_tensor(&sc, step, &mut R::TensorState::default());
    rule.update_with::<f32, f32, <f32 as optim_kernels::lanes::Real>::Vector>(
        &sc, step, &mut p1, g, &mut s1,
    );
    rule.update_with::<f32, f32, f32>(&sc, step, &mut p2, g, &mut s2);
    // NaN payloads and signs are not specified by Rust (LLVM may commute operands), so every NaN
    // compares as one canonical pattern; every other value compares bit for bit.
    let bits = |v: &[f32]| {
        v.iter()
            .map(|x| {
                if x.is_nan() {
                    f32::NAN.to_bits()
                } else {
                    x.to_bits()
                }
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&p1), bits(&p2), "params differ");
    assert_eq!(bits(&s1), bits(&s2), "state differs");
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (head, rest) = data.split_at(16);
    let f = |i: usize| f32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as f64;
    let flags = head[12];
    let step = u64::from(head[13]) + 1;
    let vals: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let n = vals.len() / 3;
    let (p, rest) = vals.split_at(n);
    let (g, s) = rest.split_at(n);
    let lr = f(0).abs();
    let (b1, b2) = (f(4).abs().fract(), f(8).abs().fract());
    check(
        &Sgd {
            lr,
            momentum: b1,
            dampening: b2,
            weight_decay: (flags & 1) as f64 * 0.01,
            nesterov: false,
            maximize: flags & 2 != 0,
            ..Sgd::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &Adam {
            lr,
            betas: (b1, b2),
            amsgrad: flags & 4 != 0,
            maximize: flags & 2 != 0,
            weight_decay: (flags & 1) as f64 * 0.01,
            decoupled_weight_decay: flags & 8 != 0,
            ..Adam::ADAM
        },
        step,
        p,
        g,
        s,
    );
    check(
        &AdamW {
            lr,
            betas: (b1, b2),
            amsgrad: flags & 4 != 0,
            ..AdamW::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &RmsProp {
            lr,
            alpha: b2 * 2.0,
            momentum: if flags & 4 != 0 { b1 } else { 0.0 },
            centered: flags & 8 != 0,
            maximize: flags & 2 != 0,
            weight_decay: (flags & 1) as f64 * 0.01,
            ..RmsProp::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &Adagrad {
            lr,
            lr_decay: b1,
            initial_accumulator_value: b2,
            maximize: flags & 2 != 0,
            weight_decay: (flags & 1) as f64 * 0.01,
            ..Adagrad::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &Adadelta {
            lr,
            rho: b1,
            maximize: flags & 2 != 0,
            weight_decay: (flags & 1) as f64 * 0.01,
            ..Adadelta::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &Adamax {
            lr,
            betas: (b1, b2),
            maximize: flags & 2 != 0,
            weight_decay: (flags & 1) as f64 * 0.01,
            ..Adamax::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &Lion {
            lr,
            betas: (b1, b2),
            weight_decay: (flags & 1) as f64 * 0.1,
            decoupled_weight_decay: flags & 8 != 0,
            ..Lion::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &RAdam {
            lr,
            betas: (b1, b2),
            weight_decay: (flags & 1) as f64 * 0.01,
            decoupled_weight_decay: flags & 8 != 0,
            maximize: flags & 2 != 0,
            ..RAdam::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &NAdam {
            lr,
            betas: (b1, b2),
            momentum_decay: f(4).abs(),
            weight_decay: (flags & 1) as f64 * 0.01,
            decoupled_weight_decay: flags & 8 != 0,
            maximize: flags & 2 != 0,
            ..NAdam::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &Asgd {
            lr,
            lambd: b1,
            alpha: b2,
            t0: f64::from(flags >> 4),
            weight_decay: (flags & 1) as f64 * 0.01,
            maximize: flags & 2 != 0,
            ..Asgd::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    // Rprop: the η's and bounds straight from the bytes (tiny, huge, NaN: the kernels do not
    // care whether the rule would validate).
    check(
        &Rprop {
            lr,
            etas: (b1, f(8).abs()),
            step_sizes: (f(4), f(8)),
            maximize: flags & 2 != 0,
            ..Rprop::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    // SparseAdam: zero gradient entries (any sign) are absent, selected per lane.
    check(
        &SparseAdam {
            lr,
            betas: (b1, b2),
            eps: f(4).abs(),
            maximize: flags & 2 != 0,
        },
        step,
        p,
        g,
        s,
    );
    // Schedule-free: β₁ must be in (0, 1) for the rule to be valid; the kernels do not care.
    let wd = (flags & 1) as f64 * 0.1;
    check(
        &AdamWScheduleFree {
            lr,
            betas: (b1, b2),
            weight_decay: wd,
            warmup_steps: u64::from(flags >> 4),
            ..AdamWScheduleFree::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &RAdamScheduleFree {
            lr,
            betas: (b1, b2),
            weight_decay: wd,
            silent_sgd_phase: flags & 2 != 0,
            ..RAdamScheduleFree::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &SgdScheduleFree {
            lr,
            momentum: b1,
            weight_decay: wd,
            ..SgdScheduleFree::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    check(
        &AdamWScheduleFreeReference {
            lr,
            betas: (b1, b2),
            weight_decay: wd,
            decay_at_z: flags & 4 != 0,
            ..AdamWScheduleFreeReference::DEFAULT
        },
        step,
        p,
        g,
        s,
    );
    let mut wrapper = ScheduleFreeWrapper::new(Adam {
        lr,
        betas: (b1, b2),
        amsgrad: flags & 4 != 0,
        ..Adam::ADAM
    });
    wrapper.momentum = b2;
    wrapper.weight_decay_at_y = wd;
    wrapper.reference = flags & 8 != 0;
    check(&wrapper, step, p, g, s);
});
