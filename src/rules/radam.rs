//! RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"), with L2 or
//! decoupled weight decay and `maximize`.
//!
//! Matches `torch.optim.RAdam` (PyTorch 2.15, `_single_tensor_radam`,
//! `torch/optim/radam.py:257-359`):
//!
//! ```text
//! g ← −g                                    if maximize
//! θ ← θ·(1 − lr·λ)                          if λ ≠ 0 and decoupled_weight_decay
//! g ← g + λ·θ                               if λ ≠ 0 and not decoupled (L2)
//! m ← lerp(m, g, 1 − β₁)                    (PyTorch's two-branch lerp)
//! v ← β₂·v + ((1 − β₂)·g)·g
//! m̂ ← m / (1 − β₁ᵗ)
//! ρ∞ = 2/(1 − β₂) − 1,   ρₜ = ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)
//! if ρₜ > 5:                                (strict, as torch; with β₂ = 0.999 from t = 6)
//!     r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ))
//!     θ ← θ − (lr·r·√(1 − β₂ᵗ) / (1 − β₁ᵗ))·m / (√v + ε)     (torch: ((m̂·lr)·(√(1 − β₂ᵗ) / (√v + ε)))·r)
//! else:
//!     θ ← θ − (lr / (1 − β₁ᵗ))·m            (SGD with momentum while the variance is intractable)
//! ```
//!
//! `t` is the tensor's own step count. Every per-step scalar (`1 − β₁ᵗ`, `√(1 − β₂ᵗ)`, `ρₜ`, `r`)
//! is computed in f64 as Python computes it (`x ** 0.5` as `pow(x, 0.5)`) and rounded once; the
//! branch on `ρₜ > 5` is taken once per step, outside the loop (a const generic of the body).
//! One deliberate difference in operation order: the per-step scalars of the update are folded
//! into one coefficient, computed in f64 and rounded once — `lr·r·√(1 − β₂ᵗ) / (1 − β₁ᵗ)` on
//! rectified steps, `lr / (1 − β₁ᵗ)` otherwise — so an element takes one vector division
//! (`c·m / (√v + ε)`) instead of torch's two (`m / bc₁` and `√bc₂ / (√v + ε)`), and none on
//! unrectified steps. The result is within an ulp or two of torch's order (it rounds less); the
//! divisions, not memory, bound this kernel on current x86 cores (see BENCHMARKS.md).
//!
//! State slots: `exp_avg`, `exp_avg_sq`.

use crate::drive::Body;

use crate::error::Error;
use crate::lanes::{Lanes, Real};
use crate::math::pow_f64;
use crate::rules::{
    Lerp, Rule, Visit, check_adam_family, check_foreach_differentiable, const_bools,
    decoupled_decay, name_slots_lr,
};

/// `torch.optim.RAdam` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct RAdam {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Coefficients (β₁, β₂) of the running averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to `√v` (default 1e-8).
    pub eps: f64,
    /// Weight decay λ (default 0).
    pub weight_decay: f64,
    /// Decoupled weight decay `θ·(1 − lr·λ)` instead of L2 (default false).
    pub decoupled_weight_decay: bool,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
}

impl RAdam {
    /// `torch.optim.RAdam`'s defaults.
    pub const DEFAULT: RAdam = RAdam {
        lr: 1e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled_weight_decay: false,
        foreach: None,
        maximize: false,
        capturable: false,
        differentiable: false,
    };

    /// State slots per element: 2 (`exp_avg`, `exp_avg_sq`).
    #[inline]
    pub const fn slots(&self) -> usize {
        2
    }

    /// State elements for a tensor of `n` elements (usable in `const` array lengths).
    #[inline]
    pub const fn state_len(&self, n: usize) -> usize {
        2 * n
    }
}

impl Default for RAdam {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    /// L2 coefficient λ, used only when `l2` is set.
    weight_decay: C,
    l2: bool,
    /// `1 − lr·λ` for decoupled decay, exactly 1 otherwise.
    decay: C,
    m: Lerp<C>,
    beta2: C,
    one_minus_beta2: C,
    /// `ρₜ > 5`: the rectified update.
    rectified: bool,
    eps: C,
    /// The update's coefficient of `m` (of `m / (√v + ε)` on rectified steps):
    /// `lr·r·(1 − β₂ᵗ) ** 0.5 / (1 − β₁ᵗ)` rectified, `lr / (1 − β₁ᵗ)` otherwise.
    step_coeff: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &RAdam, step: u64) -> Self {
        let (beta1, beta2) = h.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - pow_f64(beta1, t);
        let beta2_t = pow_f64(beta2, t);
        let bias_correction2 = 1.0 - beta2_t;
        // radam.py:322-332, in Python's evaluation order.
        let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * t * beta2_t / bias_correction2;
        let rectified = rho_t > 5.0;
        let step_coeff = if rectified {
            let rect = pow_f64(
                (rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                    / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t),
                0.5,
            );
            h.lr * rect * pow_f64(bias_correction2, 0.5) / bias_correction1
        } else {
            h.lr / bias_correction1
        };
        let decays = h.weight_decay != 0.0;
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            weight_decay: C::from_f64(h.weight_decay),
            l2: decays && !h.decoupled_weight_decay,
            decay: C::from_f64(if decays && h.decoupled_weight_decay {
                1.0 - h.lr * h.weight_decay
            } else {
                1.0
            }),
            m: Lerp::new(1.0 - beta1),
            beta2: C::from_f64(beta2),
            one_minus_beta2: C::from_f64(1.0 - beta2),
            rectified,
            eps: C::from_f64(h.eps),
            step_coeff: C::from_f64(step_coeff),
        }
    }
}

/// The body, with the per-step choices (L2 decay, lerp formula, rectified step) as const
/// generics.
struct Kernel<C, const L2: bool, const SMALL: bool, const RECT: bool>(Coeffs<C>);

impl<C: Real, const L2: bool, const SMALL: bool, const RECT: bool> Body<C, 2>
    for Kernel<C, L2, SMALL, RECT>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [m, v]: &mut [V; 2]) -> V {
        let c = &self.0;
        let k = V::splat;
        let mut g = g * k(c.grad_sign); //                    −g is exact, so is g·(±1)
        if L2 {
            g = g + k(c.weight_decay) * p; //                 grad.add(param, alpha=weight_decay)
        }
        let p = decoupled_decay(p, c.decay); //               param.mul_(1 - lr * weight_decay)
        *m = c.m.apply::<V, SMALL>(*m, g); //                 exp_avg.lerp_(grad, 1 - beta1)
        *v = *v * k(c.beta2) + k(c.one_minus_beta2) * g * g; // .mul_(beta2).addcmul_(g, g, 1 - beta2)
        // (exp_avg / bc1) * lr * (bc2**0.5 / (sqrt + eps)) * rect, scalars folded; or (exp_avg / bc1) * lr
        let update = if RECT {
            k(c.step_coeff) * *m / (v.root() + k(c.eps))
        } else {
            k(c.step_coeff) * *m
        };
        p - update //                                         param.add_(update, alpha=-1.0)
    }
}

impl Rule for RAdam {
    name_slots_lr!("RAdam", |_| 2);

    /// torch's checks (`radam.py:47-58`), in its order; infinities are refused too, and
    /// `foreach` with `differentiable` (torch raises at the first step).
    fn validate(&self) -> Result<(), Error> {
        check_adam_family(self.lr, self.eps, self.betas, self.weight_decay)?;
        check_foreach_differentiable(self.foreach, self.differentiable)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        let c = Coeffs::<C>::new(self, step);
        const_bools!((L2 = c.l2, SMALL = c.m.small, RECT = c.rectified) => {
            f.visit::<_, 2>(&Kernel::<C, L2, SMALL, RECT>(c))
        })
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    RAdam,
    [
        lr,
        betas,
        eps,
        weight_decay,
        decoupled_weight_decay,
        foreach,
        maximize,
        capturable,
        differentiable
    ]
);
