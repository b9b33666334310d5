//! How far a kernel may be from the f64 reference, per rule, and why.
//!
//! # Method
//!
//! `vs_reference` runs each step of a kernel and of the reference from the *same* inputs (the
//! kernel's current parameters and state, widened exactly to f64), so what is compared is the
//! error of one step. Both compute the same formula, each rounding to its own precision, so both
//! are within a *running error bound* of the exact result (Wilkinson; Higham, "Accuracy and
//! Stability of Numerical Algorithms", §3.3): every rounding of an intermediate `x` adds at most
//! `u·|x|`, and an error `e` in an input of an operation reaches its result scaled by the
//! operation's sensitivity to that input. The functions below add those terms along the kernel's
//! operation chain, using the reference's values for the magnitudes. A comparison passes if
//!
//! ```text
//! |kernel − reference| ≤ MARGIN · (bound(u_kernel) + bound(u_f64)) (+ one rounding to the storage type)
//! ```
//!
//! with `u` the unit roundoff: 2⁻²⁴ ≈ 6.0e-8 (f32), 2⁻⁵³ ≈ 1.1e-16 (f64). Per step the f32 bound
//! is roughly `10·u` times the magnitudes involved — a few ulps where nothing cancels — but it
//! grows where the update amplifies error: cancellation in `g + λ·θ` or in the momentum, a small
//! Adam denominator `√v/√(1 − β₂ᵗ) + ε`, a parameter near 0 next to a larger update. A fixed
//! relative tolerance would be too loose for most elements and too tight for those.
//!
//! Terms counted per rounding (kernel side): each hyperparameter rounded from f64 to the compute
//! type (`lr`, `λ`, `μ`, `1 − τ`, `β`, `1 − β`, `1 − lr·λ`, `lr/(1 − β₁ᵗ)`, `√(1 − β₂ᵗ)`, `ε`),
//! each `+ − × ÷ √`. Not counted: the f64 per-step scalars themselves (`1 − β₁ᵗ` etc.) — the kernel
//! and the reference compute them with the same f64 operations, so they are the same numbers.
//!
//! # Domain
//!
//! The inputs are ±0 or of magnitude 1e-4 ..= 1e3 ([`super::strategies::Values::Moderate`]),
//! learning rates and weight decays are ≥ 1e-4 or 0, ε ≥ 1e-8, `1 − β₂ ≥ 1e-4` (Adam). Then no
//! intermediate comes near the f32 underflow threshold (the smallest nonzero ones, e.g.
//! `(1 − β₂)·g²` after cancellation in `g`, are above 1e-30) or overflows, so `u·|x|` bounds every
//! rounding of the compute type. Rounding a result to f16 adds up to 2⁻²⁵
//! absolutely in f16's subnormal range; [`store`] counts that.

use crate::rules::{
    Adadelta, Adagrad, Adam, Adamax, Asgd, Lion, NAdam, RAdam, RmsProp, Rprop, Sgd, SparseAdam,
};

/// Unit roundoff of f64, for the reference's own roundings.
pub const U64: f64 = f64::EPSILON / 2.0;

/// Factor on the bounds for the terms a running error bound leaves out: products of two errors
/// (`e₁·e₂`, relative size ≤ (20·u)² ≈ 1.4e-12 for f32) and rounding errors taken at the
/// reference's magnitude instead of the kernel's (again a relative `O(u)` difference). One part in
/// a thousand covers them with room; where an error product can be large (squaring a cancelled
/// gradient in Adam's `v`) it is in the bound itself.
pub const MARGIN: f64 = 1.001;

/// Bounds on `|computed − exact|` of one element after one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bound {
    /// Of the parameter.
    pub p: f64,
    /// Of each state slot, in the rule's slot order.
    pub state: [f64; 3],
    /// Lion only: the bound on the error of the argument of `sign` (its value is
    /// [`Bound::sign_arg`]). A sign may differ between kernel and reference when
    /// `|sign_arg| ≤ sign_arg_err`; then the parameters may differ by one step, `2·lr`.
    pub sign_arg_err: f64,
    /// Lion only: the reference's `β₁·m + (1 − β₁)·g`.
    pub sign_arg: f64,
}

impl Bound {
    /// The bound on `|kernel − reference|`: the kernel's bound plus the reference's.
    pub fn plus(self, other: Bound) -> Bound {
        Bound {
            p: self.p + other.p,
            state: [0, 1, 2].map(|k| self.state[k] + other.state[k]),
            sign_arg_err: self.sign_arg_err + other.sign_arg_err,
            sign_arg: self.sign_arg,
        }
    }
}

/// One more rounding, to a storage type with unit roundoff `unit` and subnormal-range error
/// `tiny`, of a value near `x`: needed when the storage type is narrower than the compute type
/// (f16/bf16 parameters, bf16 state). Zero otherwise.
pub fn store(x: f64, unit: f64, tiny: f64, u_compute: f64) -> f64 {
    if unit > u_compute {
        unit * x.abs() + tiny
    } else {
        0.0
    }
}

/// SGD, one element: `p`, `g` and the momentum buffer `b` before the step.
///
/// ```text
/// g₂ = ±g + λ·θ      roundings: λ, λ·θ, the sum                 e_g = u(2|λθ| + |g₂|)
/// b' = μ·b + (1−τ)·g₂ roundings: μ, μb, 1−τ, (1−τ)g₂, the sum    e_b = u(2|μb| + 2|(1−τ)g₂| + |b'|) + |1−τ|·e_g
///      (b' = g₂ on step 1: e_b = e_g)
/// d  = g₂ + μ·b'     (Nesterov) roundings: μ, μb', the sum     e_d = u(2|μb'| + |d|) + e_g + μ·e_b
/// θ' = θ − lr·d      roundings: lr, lr·d, the sum               e_θ = u(2|lr·d| + |θ'|) + lr·e_d
/// ```
pub fn sgd(h: &Sgd, step: u64, p: f64, g: f64, b: f64, u: f64) -> Bound {
    let g1 = if h.maximize { -g } else { g };
    let (g2, e_g) = if h.weight_decay != 0.0 {
        let decay = h.weight_decay * p;
        let g2 = g1 + decay;
        (g2, u * (2.0 * decay.abs() + g2.abs()))
    } else {
        (g1, 0.0) // a sign flip is exact
    };
    let mu = h.momentum;
    let (d, e_d, e_b) = if mu == 0.0 {
        (g2, e_g, 0.0)
    } else {
        let (b1, e_b) = if step <= 1 {
            (g2, e_g) // buf = grad: a copy
        } else {
            let damp = 1.0 - h.dampening;
            let b1 = mu * b + damp * g2;
            let e_b =
                u * (2.0 * (mu * b).abs() + 2.0 * (damp * g2).abs() + b1.abs()) + damp.abs() * e_g;
            (b1, e_b)
        };
        if h.nesterov {
            let d = g2 + mu * b1;
            (
                d,
                u * (2.0 * (mu * b1).abs() + d.abs()) + e_g + mu * e_b,
                e_b,
            )
        } else {
            (b1, e_b, e_b)
        }
    };
    let p1 = p - h.lr * d;
    Bound {
        p: u * (2.0 * (h.lr * d).abs() + p1.abs()) + h.lr * e_d,
        state: [e_b, 0.0, 0.0],
        ..Bound::default()
    }
}

/// Adam/AdamW, one element: `p`, `g`, `m`, `v`, `vmax` (amsgrad only) before the step.
///
/// ```text
/// θ₁ = θ·(1 − lr·λ)  (decoupled) roundings: the factor, the product     e_θ₁ = 2u|θ₁|
/// g₂ = ±g + λ·θ      (L2)        roundings: λ, λθ, the sum              e_g = u(2|λθ| + |g₂|)
/// m' = lerp(m, g₂, w), w = 1 − β₁: roundings of g₂ − m, of w (and 1 − w), the product: at most
///      3w|g₂ − m| (w < ½) or (2 − w)|g₂ − m| (w ≥ ½), both ≤ 2|g₂ − m|; the sum; ∂m'/∂g₂ = w
///                                                             e_m = u(2|g₂ − m| + |m'|) + w·e_g
/// v' = β₂v + ((1−β₂)g₂)g₂  roundings: β₂, β₂v, 1−β₂, two products, the sum; ∂v'/∂g₂ = 2(1−β₂)g₂,
///      plus the second-order (1−β₂)e_g² (large when g₂ cancelled)
///                                     e_v = u(2β₂|v| + 3(1−β₂)g₂² + |v'|) + 2(1−β₂)|g₂|e_g + (1−β₂)e_g²
/// v̂ = max(v̂, v')     (amsgrad) max is 1-Lipschitz and exact          e_v̂ = e_v
/// r = √v̂             rounding, and |√(x + δ) − √x| ≤ min(δ/√x, √δ)  e_r = u·r + min(e_v̂/r, √e_v̂)
/// q = r / C, C = √(1 − β₂ᵗ)  (PyTorch) or r·fl(1/C) (the kernel): two roundings either way
///                                                                   e_q = 2u·q + e_r/C
/// D = q + ε          roundings: ε, the sum                          e_D = u(ε + D) + e_q
/// n = s·m', s = lr/(1 − β₁ᵗ) rounded  roundings: s, the product     e_n = 2u|n| + s·e_m
/// U = n / D          rounding, and exactly |n'/D' − n/D| ≤ (e_n + |U|e_D)/(D − e_D)
/// θ' = θ₁ − U        rounding of the sum                            e_θ = u|θ'| + e_θ₁ + e_U
/// ```
#[allow(clippy::too_many_arguments)] // one element's full state, spelled out
pub fn adam(h: &Adam, step: u64, p: f64, g: f64, m: f64, v: f64, vmax: f64, u: f64) -> Bound {
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    let bc1 = 1.0 - beta1.powf(t);
    let c = (1.0 - beta2.powf(t)).sqrt();
    let s = h.lr / bc1;
    let g1 = if h.maximize { -g } else { g };
    let wd = h.weight_decay;
    let (p1, e_p1, g2, e_g) = if wd == 0.0 {
        (p, 0.0, g1, 0.0)
    } else if h.decoupled_weight_decay {
        let p1 = p * (1.0 - h.lr * wd);
        (p1, 2.0 * u * p1.abs(), g1, 0.0)
    } else {
        let g2 = g1 + wd * p;
        (p, 0.0, g2, u * (2.0 * (wd * p).abs() + g2.abs()))
    };
    let w = 1.0 - beta1;
    let m1 = super::reference::lerp(m, g2, w);
    let e_m = u * (2.0 * (g2 - m).abs() + m1.abs()) + w * e_g;
    let v1 = beta2 * v + (1.0 - beta2) * g2 * g2;
    let e_v = u * (2.0 * (beta2 * v).abs() + 3.0 * (1.0 - beta2) * g2 * g2 + v1.abs())
        + 2.0 * (1.0 - beta2) * g2.abs() * e_g
        + (1.0 - beta2) * e_g * e_g;
    let vh = if h.amsgrad {
        super::reference::maximum(vmax, v1)
    } else {
        v1
    };
    let r = vh.sqrt();
    let e_r = u * r
        + if r > 0.0 {
            (e_v / r).min(e_v.sqrt())
        } else {
            e_v.sqrt()
        };
    let q = r / c;
    let e_q = 2.0 * u * q + e_r / c;
    let den = q + h.eps;
    let e_den = u * (h.eps + den) + e_q;
    let n = s * m1.abs();
    let e_n = 2.0 * u * n + s * e_m;
    let upd = n / den;
    let e_upd = if e_den < den {
        u * upd + (e_n + upd * e_den) / (den - e_den)
    } else {
        f64::INFINITY // the denominator is not known to be nonzero: no bound
    };
    let p_new = p1 - s * m1 / den;
    Bound {
        p: u * p_new.abs() + e_p1 + e_upd,
        state: [e_m, e_v, if h.amsgrad { e_v } else { 0.0 }],
        ..Bound::default()
    }
}

/// Lion, one element: `p`, `g`, `m` before the step.
///
/// ```text
/// θ₁ = θ·(1 − lr·λ')  roundings: the factor, the product             e_θ₁ = 2u|θ₁|
/// x  = β₁m + (1−β₁)g  roundings: β₁, β₁m, 1−β₁, (1−β₁)g, the sum      e_x = u(2|β₁m| + 2|(1−β₁)g| + |x|)
/// θ' = θ₁ − lr·sign(x) roundings: lr, the sum (a product by ±1 or 0 is exact)
///                                                                    e_θ = u(lr|sign x| + |θ'|) + e_θ₁
/// m' = β₂m + (1−β₂)g  roundings: β₂, β₂m, 1−β₂, (1−β₂)g, the sum      e_m = u(2|β₂m| + 2|(1−β₂)g| + |m'|)
/// ```
///
/// `sign` is not continuous: where `|x| ≤ e_x` (kernel's plus reference's) the signs may
/// differ, and the caller allows the parameters to differ by `2·lr` (sign ±1 flipped). Elsewhere
/// the sign is certain and the bound above holds. (A tie excluded this way has
/// `|x| ≲ 3u·(|β₁m| + |(1−β₁)g|)`, about 2e-7 relative in f32.)
pub fn lion(h: &Lion, p: f64, g: f64, m: f64, u: f64) -> Bound {
    let (beta1, beta2) = h.betas;
    let wd = if h.decoupled_weight_decay {
        h.weight_decay / h.init_lr
    } else {
        h.weight_decay
    };
    let p1 = p * (1.0 - h.lr * wd);
    let x = beta1 * m + (1.0 - beta1) * g;
    let e_x = u * (2.0 * (beta1 * m).abs() + 2.0 * ((1.0 - beta1) * g).abs() + x.abs());
    let sg = super::reference::sign(x);
    let p_new = p1 - h.lr * sg;
    let m1 = beta2 * m + (1.0 - beta2) * g;
    Bound {
        p: u * (h.lr * sg.abs() + p_new.abs()) + 2.0 * u * p1.abs(),
        state: [
            u * (2.0 * (beta2 * m).abs() + 2.0 * ((1.0 - beta2) * g).abs() + m1.abs()),
            0.0,
            0.0,
        ],
        sign_arg_err: e_x,
        sign_arg: x,
    }
}

/// `e_r` of `r = √x` computed from `x` known to within `e_x`: one rounding, and
/// `|√(x + δ) − √x| ≤ min(δ/√x, √δ)`.
fn sqrt_err(r: f64, e_x: f64, u: f64) -> f64 {
    u * r
        + if r > 0.0 {
            (e_x / r).min(e_x.sqrt())
        } else {
            e_x.sqrt()
        }
}

/// `e_q` of `q = n/d` (`|q|` given) computed from `n` and `d` known to within `e_n`, `e_d`: one
/// rounding, and exactly `|n'/d' − n/d| ≤ (e_n + |q|·e_d)/(d − e_d)` for `d > e_d`. No bound
/// (∞) when the denominator is not known to be nonzero.
fn quotient_err(q: f64, d: f64, e_n: f64, e_d: f64, u: f64) -> f64 {
    if e_d < d {
        u * q + (e_n + q * e_d) / (d - e_d)
    } else {
        f64::INFINITY
    }
}

/// RMSprop, one element: `p`, `g`, `v` (square_avg), `b` (momentum_buffer, if μ > 0), `ga`
/// (grad_avg, if centered) before the step. For α ∈ [0, 1] (the lerp weight `w = 1 − α` in
/// [0, 1], as Adam's bound assumes).
///
/// ```text
/// g₂ = ±g + λ·θ      roundings: λ, λθ, the sum                      e_g = u(2|λθ| + |g₂|)
/// v' = αv + ((1−α)g₂)g₂  as Adam's v   e_v = u(2α|v| + 3(1−α)g₂² + |v'|) + 2(1−α)|g₂|e_g + (1−α)e_g²
/// ḡ' = lerp(ḡ, g₂, 1 − α)  as Adam's m                   e_ḡ = u(2|g₂ − ḡ| + |ḡ'|) + (1−α)e_g
/// s  = v' − ḡ'·ḡ'    (centered) roundings: the square, the difference
///                                         e_s = u(ḡ'² + |s|) + e_v + 2|ḡ'|e_ḡ + e_ḡ²
/// r  = √s (√v' if not centered)                                   e_r = u·r + min(e_s/r, √e_s)
/// d  = r + ε         roundings: ε, the sum                          e_d = u(ε + d) + e_r
/// with μ > 0:
///   q = g₂/d         rounding, and the quotient's sensitivity        e_q = u|q| + (e_g + |q|e_d)/(d − e_d)
///   b' = μb + q      roundings: μ, μb, the sum                      e_b = u(2|μb| + |b'|) + e_q
///   θ' = θ − lr·b'   roundings: lr, lr·b', the sum                  e_θ = u(2lr|b'| + |θ'|) + lr·e_b
/// else:
///   n = lr·g₂        roundings: lr, the product                     e_n = 2u|n| + lr·e_g
///   U = n/d          as q                                           e_U = u|U| + (e_n + |U|e_d)/(d − e_d)
///   θ' = θ − U       rounding of the sum                            e_θ = u|θ'| + e_U
/// ```
#[allow(clippy::too_many_arguments)] // one element's full state, spelled out
pub fn rmsprop(h: &RmsProp, p: f64, g: f64, v: f64, b: f64, ga: f64, u: f64) -> Bound {
    let g1 = if h.maximize { -g } else { g };
    let wd = h.weight_decay;
    let (g2, e_g) = if wd == 0.0 {
        (g1, 0.0)
    } else {
        let g2 = g1 + wd * p;
        (g2, u * (2.0 * (wd * p).abs() + g2.abs()))
    };
    let a = h.alpha;
    let w = 1.0 - a;
    let v1 = a * v + w * g2 * g2;
    let e_v = u * (2.0 * (a * v).abs() + 3.0 * w * g2 * g2 + v1.abs())
        + 2.0 * w * g2.abs() * e_g
        + w * e_g * e_g;
    let (r, e_r, e_ga) = if h.centered {
        let ga1 = super::reference::lerp(ga, g2, w);
        let e_ga = u * (2.0 * (g2 - ga).abs() + ga1.abs()) + w * e_g;
        let sq = v1 - ga1 * ga1;
        let e_s = u * (ga1 * ga1 + sq.abs()) + e_v + 2.0 * ga1.abs() * e_ga + e_ga * e_ga;
        let r = sq.sqrt();
        (r, sqrt_err(r, e_s, u), e_ga)
    } else {
        let r = v1.sqrt();
        (r, sqrt_err(r, e_v, u), 0.0)
    };
    let d = r + h.eps;
    let e_d = u * (h.eps + d) + e_r;
    let mut state = [e_v, 0.0, 0.0];
    let e_p = if h.momentum > 0.0 {
        let q = g2.abs() / d;
        let e_q = quotient_err(q, d, e_g, e_d, u);
        let b1 = h.momentum * b + g2 / d;
        let e_b = u * (2.0 * (h.momentum * b).abs() + b1.abs()) + e_q;
        state[1] = e_b;
        let p1 = p - h.lr * b1;
        u * (2.0 * h.lr * b1.abs() + p1.abs()) + h.lr * e_b
    } else {
        let n = h.lr * g2.abs();
        let e_n = 2.0 * u * n + h.lr * e_g;
        let upd = n / d;
        let p1 = p - h.lr * g2 / d;
        u * p1.abs() + quotient_err(upd, d, e_n, e_d, u)
    };
    if h.centered {
        state[if h.momentum > 0.0 { 2 } else { 1 }] = e_ga;
    }
    Bound {
        p: e_p,
        state,
        ..Bound::default()
    }
}

/// Adagrad, one element: `p`, `g`, `s` (sum) before the step; `clr = lr / (1 + (t − 1)·lr_decay)`
/// is the same f64 number in kernel and reference.
///
/// ```text
/// g₂ = ±g + λ·θ      roundings: λ, λθ, the sum                      e_g = u(2|λθ| + |g₂|)
/// s' = s + g₂·g₂     roundings: the square, the sum; ∂s'/∂g₂ = 2g₂, plus the second-order e_g²
///                                                  e_s = u(g₂² + |s'|) + 2|g₂|e_g + e_g²
/// r  = √s'                                                        e_r = u·r + min(e_s/r, √e_s)
/// d  = r + ε         roundings: ε, the sum                          e_d = u(ε + d) + e_r
/// n  = clr·g₂        roundings: clr, the product                    e_n = 2u|n| + clr·e_g
/// U  = n/d           rounding, and the quotient's sensitivity        e_U = u|U| + (e_n + |U|e_d)/(d − e_d)
/// θ' = θ − U         rounding of the sum                            e_θ = u|θ'| + e_U
/// ```
pub fn adagrad(h: &Adagrad, step: u64, p: f64, g: f64, s: f64, u: f64) -> Bound {
    let clr = h.lr / (1.0 + (step as f64 - 1.0) * h.lr_decay);
    let g1 = if h.maximize { -g } else { g };
    let wd = h.weight_decay;
    let (g2, e_g) = if wd == 0.0 {
        (g1, 0.0)
    } else {
        let g2 = g1 + wd * p;
        (g2, u * (2.0 * (wd * p).abs() + g2.abs()))
    };
    let s1 = s + g2 * g2;
    let e_s = u * (g2 * g2 + s1.abs()) + 2.0 * g2.abs() * e_g + e_g * e_g;
    let r = s1.sqrt();
    let d = r + h.eps;
    let e_d = u * (h.eps + d) + sqrt_err(r, e_s, u);
    let n = clr * g2.abs();
    let e_n = 2.0 * u * n + clr * e_g;
    let p1 = p - clr * g2 / d;
    Bound {
        p: u * p1.abs() + quotient_err(n / d, d, e_n, e_d, u),
        state: [e_s, 0.0, 0.0],
        ..Bound::default()
    }
}

/// Adadelta, one element: `p`, `g`, `v` (square_avg), `a` (acc_delta) before the step; ρ ∈ [0, 1].
///
/// ```text
/// g₂ = ±g + λ·θ      roundings: λ, λθ, the sum                      e_g = u(2|λθ| + |g₂|)
/// v' = ρv + ((1−ρ)g₂)g₂  as Adam's v   e_v = u(2ρ|v| + 3(1−ρ)g₂² + |v'|) + 2(1−ρ)|g₂|e_g + (1−ρ)e_g²
/// S  = √(v' + ε)     roundings: ε, the sum, the root                 e_S = u·S + min(e_x/S, √e_x),
///                                                                      e_x = u(ε + v' + ε) + e_v
/// R  = √(a + ε)      roundings: ε, the sum, the root (a is exact)    e_R = u·R + min(e_y/R, √e_y),
///                                                                      e_y = u(ε + a + ε)
/// q  = R / S         rounding, and the quotient's sensitivity         e_q = u·q + (e_R + q·e_S)/(S − e_S)
/// δ  = q·g₂          rounding; ∂δ/∂q = g₂, ∂δ/∂g₂ = q                 e_δ = u|δ| + |g₂|e_q + q·e_g + e_q·e_g
/// a' = ρa + ((1−ρ)δ)δ  as v'           e_a = u(2ρ|a| + 3(1−ρ)δ² + |a'|) + 2(1−ρ)|δ|e_δ + (1−ρ)e_δ²
/// θ' = θ − lr·δ      roundings: lr, lr·δ, the sum                    e_θ = u(2lr|δ| + |θ'|) + lr·e_δ
/// ```
pub fn adadelta(h: &Adadelta, p: f64, g: f64, v: f64, a: f64, u: f64) -> Bound {
    let g1 = if h.maximize { -g } else { g };
    let wd = h.weight_decay;
    let (g2, e_g) = if wd == 0.0 {
        (g1, 0.0)
    } else {
        let g2 = g1 + wd * p;
        (g2, u * (2.0 * (wd * p).abs() + g2.abs()))
    };
    let (rho, w, eps) = (h.rho, 1.0 - h.rho, h.eps);
    let v1 = rho * v + w * g2 * g2;
    let e_v = u * (2.0 * (rho * v).abs() + 3.0 * w * g2 * g2 + v1.abs())
        + 2.0 * w * g2.abs() * e_g
        + w * e_g * e_g;
    let x = v1 + eps;
    let big_s = x.sqrt();
    let e_s = sqrt_err(big_s, u * (eps + x) + e_v, u);
    let y = a + eps;
    let big_r = y.sqrt();
    let e_r = sqrt_err(big_r, u * (eps + y), u);
    let q = big_r / big_s;
    let e_q = quotient_err(q, big_s, e_r, e_s, u);
    let delta = q * g2;
    let e_d = u * delta.abs() + g2.abs() * e_q + q * e_g + e_q * e_g;
    let a1 = rho * a + w * delta * delta;
    let e_a = u * (2.0 * (rho * a).abs() + 3.0 * w * delta * delta + a1.abs())
        + 2.0 * w * delta.abs() * e_d
        + w * e_d * e_d;
    let p1 = p - h.lr * delta;
    Bound {
        p: u * (2.0 * h.lr * delta.abs() + p1.abs()) + h.lr * e_d,
        state: [e_v, e_a, 0.0],
        ..Bound::default()
    }
}

/// Adamax, one element: `p`, `g`, `m` (exp_avg), `v` (exp_inf) before the step;
/// `clr = lr/(1 − β₁ᵗ)` is the same f64 number in kernel and reference.
///
/// ```text
/// g₂ = ±g + λ·θ      roundings: λ, λθ, the sum                      e_g = u(2|λθ| + |g₂|)
/// m' = lerp(m, g₂, 1 − β₁)  as Adam's m                e_m = u(2|g₂ − m| + |m'|) + (1−β₁)e_g
/// A  = β₂·v          roundings: β₂, the product                     e_A = 2u|A|
/// B  = |g₂| + ε      (|·| is exact) roundings: ε, the sum           e_B = u(ε + B) + e_g
/// v' = max(A, B)     max is 1-Lipschitz in each argument, and exact  e_v = max(e_A, e_B)
/// n  = clr·m'        roundings: clr, the product                    e_n = 2u|n| + clr·e_m
/// U  = n/v'          rounding, and the quotient's sensitivity        e_U = u|U| + (e_n + |U|e_v)/(v' − e_v)
/// θ' = θ − U         rounding of the sum                            e_θ = u|θ'| + e_U
/// ```
pub fn adamax(h: &Adamax, step: u64, p: f64, g: f64, m: f64, v: f64, u: f64) -> Bound {
    let (beta1, beta2) = h.betas;
    let clr = h.lr / (1.0 - beta1.powf(step as f64));
    let g1 = if h.maximize { -g } else { g };
    let wd = h.weight_decay;
    let (g2, e_g) = if wd == 0.0 {
        (g1, 0.0)
    } else {
        let g2 = g1 + wd * p;
        (g2, u * (2.0 * (wd * p).abs() + g2.abs()))
    };
    let w = 1.0 - beta1;
    let m1 = super::reference::lerp(m, g2, w);
    let e_m = u * (2.0 * (g2 - m).abs() + m1.abs()) + w * e_g;
    let a = beta2 * v;
    let b = g2.abs() + h.eps;
    let v1 = super::reference::maximum(a, b);
    let e_v = (2.0 * u * a.abs()).max(u * (h.eps + b) + e_g);
    let n = clr * m1.abs();
    let e_n = 2.0 * u * n + clr * e_m;
    let p1 = p - clr * m1 / v1;
    Bound {
        p: u * p1.abs() + quotient_err(n / v1, v1, e_n, e_v, u),
        state: [e_m, e_v, 0.0],
        ..Bound::default()
    }
}

/// The decay, L2 and moment terms Adam, RAdam and NAdam share: returns
/// `(θ₁, e_θ₁, g₂, e_g, m', e_m, v', e_v)` as in [`adam`]'s table.
#[allow(clippy::too_many_arguments)] // one element's inputs, spelled out
fn adam_moments(
    lr: f64,
    (beta1, beta2): (f64, f64),
    weight_decay: f64,
    decoupled: bool,
    maximize: bool,
    p: f64,
    g: f64,
    m: f64,
    v: f64,
    u: f64,
) -> [f64; 8] {
    let g1 = if maximize { -g } else { g };
    let (p1, e_p1, g2, e_g) = if weight_decay == 0.0 {
        (p, 0.0, g1, 0.0)
    } else if decoupled {
        let p1 = p * (1.0 - lr * weight_decay);
        (p1, 2.0 * u * p1.abs(), g1, 0.0)
    } else {
        let g2 = g1 + weight_decay * p;
        (p, 0.0, g2, u * (2.0 * (weight_decay * p).abs() + g2.abs()))
    };
    let w = 1.0 - beta1;
    let m1 = super::reference::lerp(m, g2, w);
    let e_m = u * (2.0 * (g2 - m).abs() + m1.abs()) + w * e_g;
    let v1 = beta2 * v + (1.0 - beta2) * g2 * g2;
    let e_v = u * (2.0 * (beta2 * v).abs() + 3.0 * (1.0 - beta2) * g2 * g2 + v1.abs())
        + 2.0 * (1.0 - beta2) * g2.abs() * e_g
        + (1.0 - beta2) * e_g * e_g;
    [p1, e_p1, g2, e_g, m1, e_m, v1, e_v]
}

/// RAdam, one element: `p`, `g`, `m`, `v` before the step.
///
/// ```text
/// θ₁, g₂, m', v'     as Adam (decay, L2, lerp, second moment)
/// m̂ = m' / bc₁       roundings: bc₁, the quotient                    e_m̂ = 2u|m̂| + e_m/bc₁
/// rectified (ρₜ > 5):
///   D = √v' + ε      roundings: √, ε, the sum                        e_D = u(ε + D) + e_√
///   A = c / D, c = √(1 − β₂ᵗ) rounding of c and the quotient         e_A = u|A| + quotient
///   U = ((m̂·lr)·A)·r roundings: lr, r, three products                e_U = 5u|U| + lr·r·(|A|e_m̂ + |m̂|e_A)
/// otherwise U = m̂·lr roundings: lr, the product                     e_U = 2u|U| + lr·e_m̂
/// θ' = θ₁ − U        rounding of the difference                      e_θ = u|θ'| + e_θ₁ + e_U
/// ```
pub fn radam(h: &RAdam, step: u64, p: f64, g: f64, m: f64, v: f64, u: f64) -> Bound {
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    let bc1 = 1.0 - beta1.powf(t);
    let bc2 = 1.0 - beta2.powf(t);
    let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / bc2;
    let [p1, e_p1, _, _, m1, e_m, v1, e_v] = adam_moments(
        h.lr,
        h.betas,
        h.weight_decay,
        h.decoupled_weight_decay,
        h.maximize,
        p,
        g,
        m,
        v,
        u,
    );
    let mh = m1 / bc1;
    let e_mh = 2.0 * u * mh.abs() + e_m / bc1;
    let (upd, e_upd) = if rho_t > 5.0 {
        let rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
            / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            .sqrt();
        let r = v1.sqrt();
        let den = r + h.eps;
        let e_den = u * (h.eps + den) + sqrt_err(r, e_v, u);
        let c = bc2.sqrt();
        let a = c / den;
        let e_a = u * a + quotient_err(a, den, u * c, e_den, u);
        let upd = mh * h.lr * a * rect;
        let e_upd = 5.0 * u * upd.abs() + h.lr * rect * (a * e_mh + mh.abs() * e_a);
        (upd, e_upd)
    } else {
        let upd = mh * h.lr;
        (upd, 2.0 * u * upd.abs() + h.lr * e_mh)
    };
    let p_new = p1 - upd;
    Bound {
        p: u * p_new.abs() + e_p1 + e_upd,
        state: [e_m, e_v, 0.0],
        ..Bound::default()
    }
}

/// NAdam, one element: `p`, `g`, `m`, `v` before the step; `mu_product` after this step's `μₜ`.
///
/// ```text
/// θ₁, g₂, m', v'     as Adam (decay, L2, lerp, second moment)
/// q = v' / bc₂       roundings: bc₂, the quotient                    e_q = 2u·q + e_v/bc₂
/// D = √q + ε         roundings: √, ε, the sum                        e_D = u(ε + D) + e_√q
/// A = (c₁·g₂) / D    roundings: c₁, the product; the quotient        e_A = quotient(2u|c₁g₂| + |c₁|e_g)
/// θ₂ = θ₁ + A        rounding of the sum                             e_θ₂ = u|θ₂| + e_θ₁ + e_A
/// B = (c₂·m') / D    as A                                            e_B = quotient(2u|c₂m'| + |c₂|e_m)
/// θ' = θ₂ + B        rounding of the sum                             e_θ = u|θ'| + e_θ₂ + e_B
/// ```
#[allow(clippy::too_many_arguments)] // one element's full state, spelled out
pub fn nadam(
    h: &NAdam,
    step: u64,
    p: f64,
    g: f64,
    m: f64,
    v: f64,
    mu_product: f64,
    u: f64,
) -> Bound {
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    let bc2 = 1.0 - beta2.powf(t);
    let mu = beta1 * (1.0 - 0.5 * 0.96f64.powf(t * h.momentum_decay));
    let mu_next = beta1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * h.momentum_decay));
    let c1 = -h.lr * (1.0 - mu) / (1.0 - mu_product);
    let c2 = (-h.lr * mu_next) / (1.0 - mu_product * mu_next);
    let [p1, e_p1, g2, e_g, m1, e_m, v1, e_v] = adam_moments(
        h.lr,
        h.betas,
        h.weight_decay,
        h.decoupled_weight_decay,
        h.maximize,
        p,
        g,
        m,
        v,
        u,
    );
    let q = v1 / bc2;
    let e_q = 2.0 * u * q + e_v / bc2;
    let r = q.sqrt();
    let den = r + h.eps;
    let e_den = u * (h.eps + den) + sqrt_err(r, e_q, u);
    let a = c1 * g2 / den;
    let e_a = quotient_err(
        a.abs(),
        den,
        2.0 * u * (c1 * g2).abs() + c1.abs() * e_g,
        e_den,
        u,
    );
    let p2 = p1 + a;
    let e_p2 = u * p2.abs() + e_p1 + e_a;
    let b = c2 * m1 / den;
    let e_b = quotient_err(
        b.abs(),
        den,
        2.0 * u * (c2 * m1).abs() + c2.abs() * e_m,
        e_den,
        u,
    );
    let p_new = p2 + b;
    Bound {
        p: u * p_new.abs() + e_p2 + e_b,
        state: [e_m, e_v, 0.0],
        ..Bound::default()
    }
}

/// ASGD, one element: `p`, `g`, `ax` before the step; `eta`, `mu` of this step.
///
/// ```text
/// g₂ = ±g + λ_wd·θ     roundings: λ_wd, the product, the sum           e_g = u(2|λ_wd·θ| + |g₂|)
/// θ₁ = θ·(1 − λη)      roundings: the factor, the product              e_θ₁ = 2u|θ₁|
/// θ' = θ₁ + (−η)·g₂    roundings: η, the product, the sum              e_θ = u(2|ηg₂| + |θ'|) + e_θ₁ + η·e_g
/// ax' = θ'             (μ = 1: a copy)                                 e_ax = e_θ
/// ax' = ax + (θ' − ax)·μ  roundings: the difference, μ, the product, the sum (and the choice of
///      formula when μ rounds to 1 in the compute type: at most u|θ' − ax| more)
///                      e_ax = u(|θ' − ax|(1 + 3μ) + |ax'|) + μ·e_θ + u|θ' − ax|
/// ```
#[allow(clippy::too_many_arguments)] // one element's full state, spelled out
pub fn asgd(h: &Asgd, p: f64, g: f64, ax: f64, eta: f64, mu: f64, u: f64) -> Bound {
    let g1 = if h.maximize { -g } else { g };
    let (g2, e_g) = if h.weight_decay != 0.0 {
        let g2 = g1 + h.weight_decay * p;
        (g2, u * (2.0 * (h.weight_decay * p).abs() + g2.abs()))
    } else {
        (g1, 0.0)
    };
    let p1 = p * (1.0 - h.lambd * eta);
    let e_p1 = 2.0 * u * p1.abs();
    let p2 = p1 - eta * g2;
    let e_p2 = u * (2.0 * (eta * g2).abs() + p2.abs()) + e_p1 + eta * e_g;
    let e_ax = if mu == 1.0 {
        e_p2
    } else {
        let d = (p2 - ax).abs();
        let ax1 = ax + (p2 - ax) * mu;
        u * (d * (1.0 + 3.0 * mu) + ax1.abs()) + mu * e_p2 + u * d
    };
    Bound {
        p: e_p2,
        state: [e_ax, 0.0, 0.0],
        ..Bound::default()
    }
}

/// Rprop, one element: `p`, `g`, `prev`, `step_size` before the step (`prev = 0`,
/// `step_size = lr` on the first).
///
/// ```text
/// s = sign(±g·prev)    exact (no product of these inputs underflows); so are the factor's choice
///                      and the zeroing of g, both made on exact comparisons
/// Δ' = clamp(Δ·f)      roundings: f, the product; the bounds (a clamped Δ' is a rounded bound)
///                                                                      e_Δ = 2u|Δ'|
/// θ' = θ − sign(g')·Δ' rounding of the sum (the product by ±1 or 0 is exact)
///                                                                      e_θ = u|θ'| + e_Δ
/// prev' = g'           a copy                                          e_prev = 0
/// ```
pub fn rprop(h: &Rprop, step: u64, p: f64, g: f64, prev: f64, step_size: f64, u: f64) -> Bound {
    let mut p_r = [p];
    let mut prev_r = [prev];
    let mut size_r = [step_size];
    super::reference::rprop_step(h, step, &mut p_r, &[g], &mut prev_r, &mut size_r);
    let e_size = 2.0 * u * size_r[0].abs();
    Bound {
        p: u * p_r[0].abs() + e_size,
        state: [0.0, e_size, 0.0],
        ..Bound::default()
    }
}

/// SparseAdam, one element: `p`, `g`, `m`, `v` before the step. An absent entry (`g = ±0`) is
/// left exactly as it was (error 0).
///
/// ```text
/// g₁ = ±g            exact
/// Δm = (g₁ − m)·w    w = 1 − β₁; roundings: w, the difference, the product
///                                                                  e_Δm = 3u|g₁ − m|w
/// m' = m + Δm        rounding of the sum                            e_m = u|m'| + e_Δm
/// Δv = (g₁² − v)·w₂  w₂ = 1 − β₂; roundings: the square, w₂, the difference, the product
///                                              e_Δv = u(2|g₁² − v| + g₁²)w₂ + u|g₁² − v|w₂
/// v' = v + Δv        rounding of the sum                            e_v = u|v'| + e_Δv
/// r = √v'                                                           e_r = u·r + min(e_v/r, √e_v)
/// D = r + ε          roundings: ε, the sum                          e_D = u(ε + D) + e_r
/// q = m'/D           rounding, and the quotient's sensitivity       e_q = u|q| + (e_m + |q|e_D)/(D − e_D)
/// U = s·q            s = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ); roundings: s, the product
///                                                                   e_U = 2u|U| + s·e_q
/// θ' = θ − U         rounding of the sum                            e_θ = u|θ'| + e_U
/// ```
pub fn sparse_adam(h: &SparseAdam, step: u64, p: f64, g: f64, m: f64, v: f64, u: f64) -> Bound {
    if g == 0.0 {
        return Bound::default();
    }
    let (beta1, beta2) = h.betas;
    let t = step as f64;
    let s = h.lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
    let g1 = if h.maximize { -g } else { g };
    let (w, w2) = (1.0 - beta1, 1.0 - beta2);
    let m1 = m + (g1 - m) * w;
    let e_m = u * m1.abs() + 3.0 * u * (g1 - m).abs() * w;
    let d2 = g1 * g1 - v;
    let v1 = v + d2 * w2;
    let e_v = u * v1.abs() + u * (3.0 * d2.abs() + g1 * g1) * w2;
    let r = v1.sqrt();
    let den = r + h.eps;
    let e_den = u * (h.eps + den) + sqrt_err(r, e_v, u);
    let q = m1 / den;
    let e_q = quotient_err(q.abs(), den, e_m, e_den, u);
    let upd = s * q;
    let e_upd = 2.0 * u * upd.abs() + s * e_q;
    let p_new = p - upd;
    Bound {
        p: u * p_new.abs() + e_upd,
        state: [e_m, e_v, 0.0],
        ..Bound::default()
    }
}
