//! Adamax (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", §7.1): Adam with the
//! infinity norm in place of the second moment, with L2 weight decay and `maximize`.
//!
//! Matches `torch.optim.Adamax` (PyTorch 2.15, `_single_tensor_adamax`,
//! `torch/optim/adamax.py:227-304`, the non-capturable branch):
//!
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·θ                              if λ ≠ 0
//! m ← lerp(m, g, 1 − β₁)                   (PyTorch's two-branch lerp)
//! u ← max(β₂·u, |g| + ε)                   (ε added to |g| before the max; NaN propagates,
//!                                           as torch.maximum)
//! θ ← θ + ((−lr / (1 − β₁ᵗ))·m) / u         (no bias correction of u)
//! ```
//!
//! `t` is the tensor's own step count; the step size is computed in f64 per step and rounded
//! once, as PyTorch computes it in Python floats. State slots: `exp_avg` (m), `exp_inf` (u), both
//! starting at zero.

use crate::drive::Body;
use crate::error::Error;
use crate::lanes::{Lanes, Real};
use crate::math::pow_f64;
use crate::rules::{Lerp, Rule, Visit, check_adam_family, const_bools, name_slots_lr};

/// `torch.optim.Adamax` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Adamax {
    /// Learning rate (default 2e-3).
    pub lr: f64,
    /// Coefficients (β₁, β₂) of the running average and the decaying infinity norm (default
    /// (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to `|g|` before the maximum (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
}

impl Adamax {
    /// `torch.optim.Adamax`'s defaults.
    pub const DEFAULT: Adamax = Adamax {
        lr: 2e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
        foreach: None,
        maximize: false,
        differentiable: false,
        capturable: false,
    };

    /// State slots per element: 2 (`exp_avg`, `exp_inf`).
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

impl Default for Adamax {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    weight_decay: C,
    m: Lerp<C>,
    beta2: C,
    eps: C,
    /// `−clr = −lr / (1 − β₁ᵗ)`.
    neg_clr: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Adamax, step: u64) -> Self {
        let (beta1, beta2) = h.betas;
        let bias_correction = 1.0 - pow_f64(beta1, step as f64);
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            weight_decay: C::from_f64(h.weight_decay),
            m: Lerp::new(1.0 - beta1),
            beta2: C::from_f64(beta2),
            eps: C::from_f64(h.eps),
            neg_clr: C::from_f64(-(h.lr / bias_correction)),
        }
    }
}

/// The body, with L2 decay and the lerp formula as const generics.
struct Kernel<C, const WD: bool, const SMALL: bool>(Coeffs<C>);

impl<C: Real, const WD: bool, const SMALL: bool> Body<C, 2> for Kernel<C, WD, SMALL> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [m, u]: &mut [V; 2]) -> V {
        let k = V::splat;
        let c = &self.0;
        let mut g = g * k(c.grad_sign); //                   −g is exact, so is g·(±1)
        if WD {
            g = g + k(c.weight_decay) * p; //                grad.add(param, alpha=weight_decay)
        }
        *m = c.m.apply::<V, SMALL>(*m, g); //                exp_avg.lerp_(grad, 1 - beta1)
        // torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)
        *u = (*u * k(c.beta2)).max_nan(g.magnitude() + k(c.eps));
        p + k(c.neg_clr) * *m / *u //                        param.addcdiv_(exp_avg, exp_inf, value=-clr)
    }
}

impl Rule for Adamax {
    name_slots_lr!("Adamax", |_| 2);

    /// PyTorch's checks, in its order (`adamax.py:46-57`), each also rejecting ∞ and NaN.
    fn validate(&self) -> Result<(), Error> {
        check_adam_family(self.lr, self.eps, self.betas, self.weight_decay)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        let c = Coeffs::<C>::new(self, step);
        const_bools!((WD = self.weight_decay != 0.0, SMALL = c.m.small) => {
            f.visit::<_, 2>(&Kernel::<_, WD, SMALL>(c))
        });
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Adamax,
    [
        lr,
        betas,
        eps,
        weight_decay,
        foreach,
        maximize,
        differentiable,
        capturable
    ]
);
