//! All 65 536 f16 and all 65 536 bf16 bit patterns through the public API.
//!
//! - Conversions: widening to the compute type (f32) is exact and rounding back gives the same
//!   bits (NaN stays NaN, payload unspecified).
//! - One step through `Rule::step` equals an f32 oracle computed here, rounded once to the
//!   parameter type: plain SGD (`θ + (−lr)·g`), SGD with `maximize` and L2 decay, and Adam
//!   (state f32, two steps, both lerp branches, amsgrad, L2 and decoupled decay). Results are
//!   compared by bits; a NaN result only has to be NaN (its sign and payload are not specified).
//!
//! The slices hold every pattern at once (65 536 elements: full 64-element blocks, every lane
//! position) and, for the tails, 1000 patterns starting at index 3. Gradients are a permutation
//! of the patterns, so every pattern is also a gradient, paired with a different parameter.

use optim_kernels::rules::{Adam, Sgd};
use optim_kernels::{Element, Rule, bf16, f16};
use std::fmt::Debug;

/// The half types under test, with the conversions the oracle uses (the `half` crate's).
trait Half: Element<Compute = f32> + Debug {
    fn from_bits(b: u16) -> Self;
    fn bits(self) -> u16;
    fn widen(self) -> f32;
    fn round(x: f32) -> Self;
}

impl Half for f16 {
    fn from_bits(b: u16) -> Self {
        f16::from_bits(b)
    }
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn round(x: f32) -> Self {
        f16::from_f32(x)
    }
}

impl Half for bf16 {
    fn from_bits(b: u16) -> Self {
        bf16::from_bits(b)
    }
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn round(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

/// Every bit pattern, in order.
fn all<H: Half>() -> Vec<H> {
    (0..=u16::MAX).map(H::from_bits).collect()
}

/// Every bit pattern in a scrambled order: `i ↦ 40503·i + 17 (mod 2¹⁶)` is a bijection.
fn permuted<H: Half>() -> Vec<H> {
    (0..=u16::MAX)
        .map(|i| H::from_bits(i.wrapping_mul(40503).wrapping_add(17)))
        .collect()
}

/// `got[i]` and `want[i]` have the same bits, or are both NaN.
fn assert_same<T: Copy + Debug>(
    what: &str,
    got: &[T],
    want: &[T],
    bits: impl Fn(T) -> u64,
    is_nan: impl Fn(T) -> bool,
    inputs: impl Fn(usize) -> String,
) {
    assert_eq!(got.len(), want.len());
    let bad: Vec<usize> = (0..got.len())
        .filter(|&i| {
            let (a, b) = (got[i], want[i]);
            bits(a) != bits(b) && !(is_nan(a) && is_nan(b))
        })
        .collect();
    if let Some(&i) = bad.first() {
        panic!(
            "{what}: {} of {} differ; first at {i}: got {:?} ({:#x}), want {:?} ({:#x}); {}",
            bad.len(),
            got.len(),
            got[i],
            bits(got[i]),
            want[i],
            bits(want[i]),
            inputs(i)
        );
    }
}

fn assert_same_half<H: Half>(what: &str, got: &[H], want: &[H], inputs: impl Fn(usize) -> String) {
    let bits = |x: H| u64::from(x.bits());
    assert_same(what, got, want, bits, |x: H| x.widen().is_nan(), inputs);
}

fn assert_same_f32(what: &str, got: &[f32], want: &[f32], inputs: impl Fn(usize) -> String) {
    let bits = |x: f32| u64::from(x.to_bits());
    assert_same(what, got, want, bits, f32::is_nan, inputs);
}

// -------------------------------------------------------------------------------------------------
// Conversions

fn conversions_round_trip<H: Half>() {
    for h in all::<H>() {
        let x = h.to_compute();
        if h.widen().is_nan() {
            // NaN stays NaN both ways; its payload (and quietness) is not specified.
            assert!(x.is_nan(), "NaN {:#06x} widened to {x}", h.bits());
            assert!(
                H::from_compute(x).widen().is_nan(),
                "NaN {:#06x} lost",
                h.bits()
            );
            continue;
        }
        assert_eq!(
            x.to_bits(),
            h.widen().to_bits(),
            "widening {:#06x} is not exact",
            h.bits()
        );
        let back = H::from_compute(x);
        assert_eq!(back.bits(), h.bits(), "round trip of {:#06x}", h.bits());
    }
}

#[test]
fn conversions_round_trip_every_f16() {
    conversions_round_trip::<f16>();
}

#[test]
fn conversions_round_trip_every_bf16() {
    conversions_round_trip::<bf16>();
}

/// A zero gradient moves nothing: `θ + (−lr)·(±0) = θ` for every θ (−0 included), so the
/// load–compute–store path must give back every pattern's bits.
fn zero_grad_keeps_every_pattern<H: Half>() {
    let p0 = all::<H>();
    let mut p = p0.clone();
    let g: Vec<H> = (0..p.len())
        .map(|i| H::from_bits(if i % 2 == 0 { 0 } else { 0x8000 }))
        .collect();
    let h = Sgd {
        lr: 0.1,
        ..Sgd::DEFAULT
    };
    let mut step = 0;
    h.step::<H, f32>(&mut step, &mut p, &g, &mut []).unwrap();
    assert_same_half("zero gradient", &p, &p0, |i| format!("θ {:?}", p0[i]));
}

#[test]
fn zero_grad_keeps_every_f16() {
    zero_grad_keeps_every_pattern::<f16>();
}

#[test]
fn zero_grad_keeps_every_bf16() {
    zero_grad_keeps_every_pattern::<bf16>();
}

// -------------------------------------------------------------------------------------------------
// SGD without momentum (no state)

/// The f32 oracle of one SGD step without momentum, rounded once to `H`:
/// `θ + (−lr)·(±g + λ·θ)` with `−lr`, `λ` rounded from f64 to f32 (the rule doc's arithmetic).
fn sgd_oracle<H: Half>(h: &Sgd, p: &[H], g: &[H]) -> Vec<H> {
    let neg_lr = (-h.lr) as f32;
    let wd = h.weight_decay as f32;
    p.iter()
        .zip(g)
        .map(|(&p, &g)| {
            let (p, g) = (p.widen(), g.widen());
            let mut d = if h.maximize { -g } else { g };
            if h.weight_decay != 0.0 {
                d += wd * p;
            }
            H::round(p + neg_lr * d)
        })
        .collect()
}

fn sgd_matches_oracle<H: Half>(h: &Sgd) {
    let (p0, g) = (all::<H>(), permuted::<H>());
    let want = sgd_oracle(h, &p0, &g);
    let mut p = p0.clone();
    let mut step = 0;
    h.step::<H, f32>(&mut step, &mut p, &g, &mut []).unwrap();
    assert_eq!(step, 1);
    let inputs = |i: usize| format!("θ {:?}, g {:?}, {h:?}", p0[i], g[i]);
    assert_same_half("SGD, all patterns", &p, &want, inputs);

    // An odd length: 15 full blocks and a tail of 40, starting off the block grid.
    let range = 3..1003;
    let mut p = p0[range.clone()].to_vec();
    let mut step = 0;
    h.step::<H, f32>(&mut step, &mut p, &g[range.clone()], &mut [])
        .unwrap();
    let inputs = |i: usize| format!("θ {:?}, g {:?}, {h:?}", p0[i + 3], g[i + 3]);
    assert_same_half("SGD, 1000 from 3", &p, &want[range], inputs);
}

fn sgd_configs() -> [Sgd; 2] {
    [
        Sgd {
            lr: 0.01, // not a power of two: −lr rounds, the product rounds
            ..Sgd::DEFAULT
        },
        Sgd {
            lr: 0.3,
            weight_decay: 0.05,
            maximize: true,
            dampening: 0.5, // ignored without momentum
            ..Sgd::DEFAULT
        },
    ]
}

#[test]
fn sgd_step_matches_f32_oracle_every_f16() {
    for h in sgd_configs() {
        sgd_matches_oracle::<f16>(&h);
    }
}

#[test]
fn sgd_step_matches_f32_oracle_every_bf16() {
    for h in sgd_configs() {
        sgd_matches_oracle::<bf16>(&h);
    }
}

// -------------------------------------------------------------------------------------------------
// Adam with f32 state

/// The per-step scalars of `src/rules/adam.rs`, computed in f64 and rounded once to f32.
struct AdamScalars {
    grad_sign: f32,
    l2: Option<f32>,
    decay: Option<f32>,
    w: f32,
    one_minus_w: f32,
    beta2: f32,
    one_minus_beta2: f32,
    inv_bc2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
}

impl AdamScalars {
    fn new(h: &Adam, step: u64) -> Self {
        let (beta1, beta2) = h.betas;
        let t = step as f64;
        let bc1 = 1.0 - beta1.powf(t);
        let bc2 = 1.0 - beta2.powf(t);
        let w = (1.0 - beta1) as f32;
        let decays = h.weight_decay != 0.0;
        AdamScalars {
            grad_sign: if h.maximize { -1.0 } else { 1.0 },
            l2: (decays && !h.decoupled_weight_decay).then_some(h.weight_decay as f32),
            decay: (decays && h.decoupled_weight_decay)
                .then_some((1.0 - h.lr * h.weight_decay) as f32),
            w,
            one_minus_w: 1.0 - w,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            inv_bc2_sqrt: (1.0 / bc2.sqrt()) as f32,
            eps: h.eps as f32,
            neg_step_size: (-(h.lr / bc1)) as f32,
        }
    }

    /// One element in f32, in the rule doc's order:
    /// `m ← lerp(m, g, 1 − β₁)`, `v ← β₂·v + ((1 − β₂)·g)·g`, `v̂ ← max(v̂, v)`,
    /// `θ ← θ + (−lr/(1 − β₁ᵗ))·m / (√v̂ · (1/√(1 − β₂ᵗ)) + ε)`.
    fn apply(&self, p: f32, g: f32, m: f32, v: f32, vmax: Option<f32>) -> [f32; 4] {
        let mut g = g * self.grad_sign;
        let mut p = p;
        if let Some(wd) = self.l2 {
            g += wd * p;
        }
        if let Some(f) = self.decay {
            p *= f;
        }
        let m = if self.w.abs() < 0.5 {
            m + self.w * (g - m)
        } else {
            g - (g - m) * self.one_minus_w
        };
        let v = v * self.beta2 + self.one_minus_beta2 * g * g;
        let vmax = vmax.map(|x| if x.is_nan() || x > v { x } else { v });
        let denom = vmax.unwrap_or(v).sqrt() * self.inv_bc2_sqrt + self.eps;
        [
            p + self.neg_step_size * m / denom,
            m,
            v,
            vmax.unwrap_or(0.0),
        ]
    }
}

/// Two Adam steps on every pattern (zero state first, then the state the first step left,
/// with another gradient permutation) against the oracle; parameters and state compared.
fn adam_matches_oracle<H: Half>(h: &Adam, p0: &[H], g1: &[H], g2: &[H]) {
    let n = p0.len();
    let k = h.slots();
    let mut p = p0.to_vec();
    let mut state = vec![0.0f32; k * n];
    let mut want_p = p0.to_vec();
    let mut want_s = state.clone();
    let mut step = 0;
    for (t, g) in [(1u64, g1), (2, g2)] {
        let before_p = want_p.clone();
        let before_s = want_s.clone();
        let c = AdamScalars::new(h, t);
        for i in 0..n {
            let vmax = h.amsgrad.then(|| before_s[2 * n + i]);
            let [np, m, v, vm] = c.apply(
                before_p[i].widen(),
                g[i].widen(),
                before_s[i],
                before_s[n + i],
                vmax,
            );
            want_p[i] = H::round(np);
            want_s[i] = m;
            want_s[n + i] = v;
            if h.amsgrad {
                want_s[2 * n + i] = vm;
            }
        }
        h.step::<H, f32>(&mut step, &mut p, g, &mut state).unwrap();
        assert_eq!(step, t);
        let inputs = |i: usize| {
            let s: Vec<f32> = (0..k).map(|j| before_s[j * n + i]).collect();
            format!("θ {:?}, g {:?}, state {s:?}, {h:?}", before_p[i], g[i])
        };
        assert_same_half(&format!("Adam step {t}, θ"), &p, &want_p, inputs);
        for j in 0..k {
            let slot = j * n..(j + 1) * n;
            let what = format!("Adam step {t}, state slot {j}");
            let inputs = |i: usize| format!("θ {:?}, g {:?}, {h:?}", before_p[i], g[i]);
            assert_same_f32(&what, &state[slot.clone()], &want_s[slot], inputs);
        }
    }
}

fn adam_configs() -> [Adam; 3] {
    [
        Adam::ADAM, // lerp weight 0.1: first branch
        Adam {
            lr: 0.05,
            betas: (0.3, 0.99), // lerp weight 0.7: second branch
            weight_decay: 0.1,  // L2
            amsgrad: true,
            maximize: true,
            ..Adam::ADAM
        },
        Adam {
            lr: 0.02,
            eps: 1e-3,
            ..Adam::ADAMW // decoupled decay 1e-2
        },
    ]
}

fn adam_every_pattern<H: Half>() {
    let p0 = all::<H>();
    let g1 = permuted::<H>();
    let g2: Vec<H> = g1.iter().rev().copied().collect();
    for h in adam_configs() {
        adam_matches_oracle(&h, &p0, &g1, &g2);
        adam_matches_oracle(&h, &p0[3..1003], &g1[3..1003], &g2[3..1003]);
    }
}

#[test]
fn adam_steps_match_f32_oracle_every_f16() {
    adam_every_pattern::<f16>();
}

#[test]
fn adam_steps_match_f32_oracle_every_bf16() {
    adam_every_pattern::<bf16>();
}
