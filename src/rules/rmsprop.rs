//! RMSprop (Tieleman & Hinton 2012, lecture 6.5; centered: Graves 2013, "Generating Sequences
//! With Recurrent Neural Networks", eq. 38–45), with L2 weight decay, momentum and `maximize`.
//!
//! Matches `torch.optim.RMSprop` (PyTorch 2.15, `_single_tensor_rmsprop`,
//! `torch/optim/rmsprop.py:266-340`):
//!
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·θ                              if λ ≠ 0
//! v ← α·v + ((1 − α)·g)·g
//! if centered:
//!     ḡ ← lerp(ḡ, g, 1 − α)                (PyTorch's two-branch lerp)
//!     d ← √(v − ḡ·ḡ) + ε
//! else:
//!     d ← √v + ε                           (ε outside the root)
//! if μ > 0:
//!     b ← μ·b + g / d
//!     θ ← θ + (−lr)·b
//! else:
//!     θ ← θ + ((−lr)·g) / d
//! ```
//!
//! PyTorch counts steps but the math does not use them. State slots, in PyTorch's order:
//! `square_avg`, then `momentum_buffer` if `momentum > 0`, then `grad_avg` if `centered`; all
//! start at zero.

use crate::drive::Body;
use crate::error::{Error, non_negative};
use crate::lanes::{Lanes, Real};
use crate::rules::{Lerp, Rule, Visit, const_bools, name_slots_lr};

/// `torch.optim.RMSprop` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct RmsProp {
    /// Learning rate (default 1e-2).
    pub lr: f64,
    /// Smoothing constant α of the running averages (default 0.99).
    pub alpha: f64,
    /// Term added to the denominator, outside the square root (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Momentum factor μ (default 0: no momentum buffer).
    pub momentum: f64,
    /// Centered RMSprop: normalise by an estimate of the gradient's variance (default false).
    pub centered: bool,
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
}

impl RmsProp {
    /// `torch.optim.RMSprop`'s defaults.
    pub const DEFAULT: RmsProp = RmsProp {
        lr: 1e-2,
        alpha: 0.99,
        eps: 1e-8,
        weight_decay: 0.0,
        momentum: 0.0,
        centered: false,
        capturable: false,
        foreach: None,
        maximize: false,
        differentiable: false,
    };

    /// State slots per element: 1 (`square_avg`), plus 1 with momentum, plus 1 if centered.
    #[inline]
    pub const fn slots(&self) -> usize {
        1 + (self.momentum > 0.0) as usize + self.centered as usize
    }

    /// State elements for a tensor of `n` elements (usable in `const` array lengths).
    #[inline]
    pub const fn state_len(&self, n: usize) -> usize {
        self.slots() * n
    }
}

impl Default for RmsProp {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, rounded once to the compute type.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    weight_decay: C,
    alpha: C,
    one_minus_alpha: C,
    /// `grad_avg.lerp_(grad, 1 - alpha)`, centered only.
    grad_avg: Lerp<C>,
    eps: C,
    momentum: C,
    neg_lr: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &RmsProp) -> Self {
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            weight_decay: C::from_f64(h.weight_decay),
            alpha: C::from_f64(h.alpha),
            one_minus_alpha: C::from_f64(1.0 - h.alpha),
            grad_avg: Lerp::new(1.0 - h.alpha),
            eps: C::from_f64(h.eps),
            momentum: C::from_f64(h.momentum),
            neg_lr: C::from_f64(-h.lr),
        }
    }
}

/// The body, with the per-step choices as const generics: L2 decay, momentum, centered, and the
/// lerp formula of the centered average.
struct Kernel<C, const WD: bool, const MOMENTUM: bool, const CENTERED: bool, const SMALL: bool>(
    Coeffs<C>,
);

impl<C: Real, const WD: bool, const MOMENTUM: bool, const CENTERED: bool, const SMALL: bool>
    Kernel<C, WD, MOMENTUM, CENTERED, SMALL>
{
    /// One update; `b` is read and written only with momentum, `ga` only when centered.
    #[inline(always)]
    fn update<V: Lanes<Scalar = C>>(&self, p: V, g: V, v: &mut V, b: &mut V, ga: &mut V) -> V {
        let k = V::splat;
        let c = &self.0;
        let mut g = g * k(c.grad_sign); //                      −g is exact, so is g·(±1)
        if WD {
            g = g + k(c.weight_decay) * p; //                   grad.add(param, alpha=weight_decay)
        }
        *v = *v * k(c.alpha) + k(c.one_minus_alpha) * g * g; // .mul_(alpha).addcmul_(g, g, 1 - alpha)
        let avg = if CENTERED {
            *ga = c.grad_avg.apply::<V, SMALL>(*ga, g); //      grad_avg.lerp_(grad, 1 - alpha)
            (*v - *ga * *ga).root() //                          addcmul(ga, ga, value=-1).sqrt_()
        } else {
            v.root()
        };
        let avg = avg + k(c.eps); //                            avg.add_(eps)
        if MOMENTUM {
            *b = *b * k(c.momentum) + g / avg; //               buf.mul_(momentum).addcdiv_(grad, avg)
            p + k(c.neg_lr) * *b //                             param.add_(buf, alpha=-lr)
        } else {
            p + k(c.neg_lr) * g / avg //                        param.addcdiv_(grad, avg, value=-lr)
        }
    }
}

impl<C: Real, const WD: bool, const MOMENTUM: bool, const CENTERED: bool, const SMALL: bool>
    Body<C, 1> for Kernel<C, WD, MOMENTUM, CENTERED, SMALL>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [v]: &mut [V; 1]) -> V {
        let (mut b, mut ga) = (V::splat(C::zero()), V::splat(C::zero())); // unused
        self.update(p, g, v, &mut b, &mut ga)
    }
}

impl<C: Real, const WD: bool, const MOMENTUM: bool, const CENTERED: bool, const SMALL: bool>
    Body<C, 2> for Kernel<C, WD, MOMENTUM, CENTERED, SMALL>
{
    /// Slot 1 is the momentum buffer with momentum, else the centered average.
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [v, x]: &mut [V; 2]) -> V {
        let mut unused = V::splat(C::zero());
        if MOMENTUM {
            self.update(p, g, v, x, &mut unused)
        } else {
            self.update(p, g, v, &mut unused, x)
        }
    }
}

impl<C: Real, const WD: bool, const MOMENTUM: bool, const CENTERED: bool, const SMALL: bool>
    Body<C, 3> for Kernel<C, WD, MOMENTUM, CENTERED, SMALL>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [v, b, ga]: &mut [V; 3]) -> V {
        self.update(p, g, v, b, ga)
    }
}

impl Rule for RmsProp {
    name_slots_lr!("RMSprop", |r| RmsProp::slots(r));

    /// PyTorch's checks, in its order (`rmsprop.py:47-58`), each also rejecting ∞ and NaN.
    /// PyTorch bounds α only below; so do we.
    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        non_negative!("eps", self.eps)?;
        let mu = self.momentum;
        non_negative!("momentum", mu)?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)?;
        non_negative!("alpha", self.alpha)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), _step: u64, f: F) {
        let c = Coeffs::<C>::new(self);
        let wd = self.weight_decay != 0.0;
        match (self.momentum > 0.0, self.centered) {
            (false, false) => const_bools!((WD = wd) => {
                f.visit::<_, 1>(&Kernel::<_, WD, false, false, false>(c))
            }),
            (true, false) => const_bools!((WD = wd) => {
                f.visit::<_, 2>(&Kernel::<_, WD, true, false, false>(c))
            }),
            (false, true) => const_bools!((WD = wd, SMALL = c.grad_avg.small) => {
                f.visit::<_, 2>(&Kernel::<_, WD, false, true, SMALL>(c))
            }),
            (true, true) => const_bools!((WD = wd, SMALL = c.grad_avg.small) => {
                f.visit::<_, 3>(&Kernel::<_, WD, true, true, SMALL>(c))
            }),
        }
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    RmsProp,
    [
        lr,
        alpha,
        eps,
        weight_decay,
        momentum,
        centered,
        capturable,
        foreach,
        maximize,
        differentiable
    ]
);
