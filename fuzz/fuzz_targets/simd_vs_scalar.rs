//! Arbitrary bits (NaN, infinities, subnormals included) through every rule: the SIMD and scalar
//! paths agree bit for bit on parameters and state (every NaN counts as one value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use optim_kernels::rules::{Adam, AdamW, Lion, Rule, Sgd};

fn check<R: Rule>(rule: &R, step: u64, p: &[f32], g: &[f32], s: &[f32]) {
    let n = p.len();
    let k = rule.slots();
    let mut s = s.iter().copied().cycle().take(k * n).collect::<Vec<_>>();
    if s.len() < k * n {
        s.resize(k * n, 0.0);
    }
    let (mut p1, mut s1) = (p.to_vec(), s.clone());
    let (mut p2, mut s2) = (p.to_vec(), s);
    rule.update_with::<f32, f32, <f32 as optim_kernels::lanes::Real>::Vector>(
        step, &mut p1, g, &mut s1,
    );
    rule.update_with::<f32, f32, f32>(step, &mut p2, g, &mut s2);
    // NaN payloads and signs are not specified by Rust (LLVM may commute operands), so every NaN
    // compares as one canonical pattern; every other value compares bit for bit.
    let bits = |v: &[f32]| {
        v.iter()
            .map(|x| if x.is_nan() { f32::NAN.to_bits() } else { x.to_bits() })
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
});
