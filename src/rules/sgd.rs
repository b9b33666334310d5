//! SGD with momentum, dampening, Nesterov momentum, L2 weight decay and `maximize`.
//!
//! Matches `torch.optim.SGD` (PyTorch 2.15, `_single_tensor_sgd`, `torch/optim/sgd.py:322-379`):
//!
//! ```text
//! g ← −g                                  if maximize
//! g ← g + λ·θ                             if λ ≠ 0
//! if μ ≠ 0:
//!     b ← g                               on the tensor's first step (no dampening)
//!     b ← μ·b + (1 − τ)·g                 afterwards
//!     g ← g + μ·b  if nesterov  else  b
//! θ ← θ − lr·g
//! ```
//!
//! State: one slot, `momentum_buffer`, when `momentum ≠ 0`; none otherwise.

use crate::drive::Body;

use crate::error::{Error, check, non_negative};
use crate::lanes::{Lanes, Real};
use crate::rules::{Rule, Visit, check_fused, const_bools, name_slots_lr};

/// `torch.optim.SGD` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Momentum factor μ (default 0: no momentum buffer).
    pub momentum: f64,
    /// Dampening τ of the momentum (default 0).
    pub dampening: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false; needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
    /// PyTorch dispatch flag; accepted, no effect (these kernels are always single-pass).
    pub fused: Option<bool>,
}

impl Sgd {
    /// `torch.optim.SGD`'s defaults.
    pub const DEFAULT: Sgd = Sgd {
        lr: 1e-3,
        momentum: 0.0,
        dampening: 0.0,
        weight_decay: 0.0,
        nesterov: false,
        maximize: false,
        foreach: None,
        differentiable: false,
        fused: None,
    };

    /// State slots per element: 1 with momentum, 0 without.
    #[inline]
    pub const fn slots(&self) -> usize {
        if self.momentum != 0.0 { 1 } else { 0 }
    }

    /// State elements for a tensor of `n` elements (usable in `const` array lengths).
    #[inline]
    pub const fn state_len(&self, n: usize) -> usize {
        self.slots() * n
    }
}

impl Default for Sgd {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, rounded once to the compute type.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    weight_decay: C,
    momentum: C,
    one_minus_dampening: C,
    neg_lr: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Sgd) -> Self {
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            weight_decay: C::from_f64(h.weight_decay),
            momentum: C::from_f64(h.momentum),
            one_minus_dampening: C::from_f64(1.0 - h.dampening),
            neg_lr: C::from_f64(-h.lr),
        }
    }
}

/// The body, with the per-step choices as const generics: L2 decay, the tensor's first step
/// (momentum buffer = gradient), Nesterov.
struct Kernel<C, const WD: bool, const FIRST: bool, const NESTEROV: bool>(Coeffs<C>);

impl<C: Real, const WD: bool, const FIRST: bool, const NESTEROV: bool>
    Kernel<C, WD, FIRST, NESTEROV>
{
    /// The gradient after `maximize` and L2 decay.
    #[inline(always)]
    fn grad<V: Lanes<Scalar = C>>(&self, p: V, g: V) -> V {
        let g = g * V::splat(self.0.grad_sign); // −g is exact, so is g·(±1)
        if WD {
            g + V::splat(self.0.weight_decay) * p //  grad.add(param, alpha=weight_decay)
        } else {
            g
        }
    }
}

impl<C: Real, const WD: bool, const FIRST: bool, const NESTEROV: bool> Body<C, 0>
    for Kernel<C, WD, FIRST, NESTEROV>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, _: &mut [V; 0]) -> V {
        p + V::splat(self.0.neg_lr) * self.grad(p, g) // param.add_(grad, alpha=-lr)
    }
}

impl<C: Real, const WD: bool, const FIRST: bool, const NESTEROV: bool> Body<C, 1>
    for Kernel<C, WD, FIRST, NESTEROV>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [b]: &mut [V; 1]) -> V {
        let c = &self.0;
        let g = self.grad(p, g);
        *b = if FIRST {
            g //                                                     buf = grad.clone()
        } else {
            *b * V::splat(c.momentum) + V::splat(c.one_minus_dampening) * g
        };
        let d = if NESTEROV {
            g + V::splat(c.momentum) * *b
        } else {
            *b
        };
        p + V::splat(c.neg_lr) * d
    }
}

impl Rule for Sgd {
    name_slots_lr!("SGD", |r| Sgd::slots(r));

    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        let mu = self.momentum;
        non_negative!("momentum", mu)?;
        check(
            "dampening",
            self.dampening,
            self.dampening.is_finite(),
            "a finite number",
        )?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::Conflict {
                key: "nesterov",
                reason: "Nesterov momentum requires a momentum and zero dampening",
                group: None,
            });
        }
        check_fused(self.fused, self.foreach, self.differentiable)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        let c = Coeffs::<C>::new(self);
        let wd = self.weight_decay != 0.0;
        if Sgd::slots(self) == 0 {
            const_bools!((WD = wd) => f.visit::<_, 0>(&Kernel::<_, WD, false, false>(c)));
        } else {
            let first = step <= 1;
            const_bools!((WD = wd, FIRST = first, NESTEROV = self.nesterov) => {
                f.visit::<_, 1>(&Kernel::<_, WD, FIRST, NESTEROV>(c))
            });
        }
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Sgd,
    [
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
        maximize,
        foreach,
        differentiable,
        fused
    ]
);
