//! Adadelta (Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method"), with a learning rate,
//! L2 weight decay and `maximize`.
//!
//! Matches `torch.optim.Adadelta` (PyTorch 2.15, `_single_tensor_adadelta`,
//! `torch/optim/adadelta.py:246-303`):
//!
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·θ                              if λ ≠ 0
//! v ← ρ·v + ((1 − ρ)·g)·g
//! δ ← √((a + ε) / (v + ε))·g               (torch: (√(a + ε) / √(v + ε))·g)
//! a ← ρ·a + ((1 − ρ)·δ)·δ
//! θ ← θ + (−lr)·δ
//! ```
//!
//! One deliberate difference in operation order: torch takes two roots and divides them; we take
//! the root of the quotient, one root and one division per element instead of two roots and a
//! division — the root and the division, not memory, bound this kernel on current x86 cores (see
//! BENCHMARKS.md). The quotient form rounds twice instead of three times, so it is as close to
//! the exact value or closer. It differs beyond rounding only where the quotient
//! `(a + ε) / (v + ε)` leaves the compute type's normal range (above 3.4e38 or below 1.2e-38 in
//! f32), i.e. with the default ε only when `a` or `v` exceeds ~1e31: there the quotient
//! overflows to ∞ or loses bits as a subnormal where torch's two roots would not.
//!
//! PyTorch counts steps but the math does not use them. State slots: `square_avg` (v),
//! `acc_delta` (a), both starting at zero.

use crate::drive::Body;
use crate::error::{Error, check, non_negative};
use crate::lanes::{Lanes, Real};
use crate::rules::{Rule, Visit, const_bools, name_slots_lr};

/// `torch.optim.Adadelta` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Adadelta {
    /// Learning rate: a factor on the computed step δ (default 1.0).
    pub lr: f64,
    /// Coefficient ρ of the running averages of g² and δ² (default 0.9).
    pub rho: f64,
    /// Term added inside both square roots (default 1e-6).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
}

impl Adadelta {
    /// `torch.optim.Adadelta`'s defaults.
    pub const DEFAULT: Adadelta = Adadelta {
        lr: 1.0,
        rho: 0.9,
        eps: 1e-6,
        weight_decay: 0.0,
        foreach: None,
        capturable: false,
        maximize: false,
        differentiable: false,
    };

    /// State slots per element: 2 (`square_avg`, `acc_delta`).
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

impl Default for Adadelta {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, rounded once to the compute type.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    weight_decay: C,
    rho: C,
    one_minus_rho: C,
    eps: C,
    neg_lr: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Adadelta) -> Self {
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            weight_decay: C::from_f64(h.weight_decay),
            rho: C::from_f64(h.rho),
            one_minus_rho: C::from_f64(1.0 - h.rho),
            eps: C::from_f64(h.eps),
            neg_lr: C::from_f64(-h.lr),
        }
    }
}

/// The body, with L2 decay as a const generic.
struct Kernel<C, const WD: bool>(Coeffs<C>);

impl<C: Real, const WD: bool> Body<C, 2> for Kernel<C, WD> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [v, a]: &mut [V; 2]) -> V {
        let k = V::splat;
        let c = &self.0;
        let mut g = g * k(c.grad_sign); //                   −g is exact, so is g·(±1)
        if WD {
            g = g + k(c.weight_decay) * p; //                grad.add(param, alpha=weight_decay)
        }
        *v = *v * k(c.rho) + k(c.one_minus_rho) * g * g; // .mul_(rho).addcmul_(g, g, 1 - rho)
        // std = square_avg.add(eps).sqrt_(); delta = acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
        let delta = ((*a + k(c.eps)) / (*v + k(c.eps))).root() * g;
        *a = *a * k(c.rho) + k(c.one_minus_rho) * delta * delta; // acc_delta.mul_(rho).addcmul_
        p + k(c.neg_lr) * delta //                           param.add_(delta, alpha=-lr)
    }
}

impl Rule for Adadelta {
    name_slots_lr!("Adadelta", |_| 2);

    /// PyTorch's checks, in its order (`adadelta.py:45-52`), each also rejecting ∞ and NaN.
    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        check(
            "rho",
            self.rho,
            (0.0..=1.0).contains(&self.rho),
            "0 <= rho <= 1",
        )?;
        non_negative!("eps", self.eps)?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), _step: u64, f: F) {
        let c = Coeffs::<C>::new(self);
        const_bools!((WD = self.weight_decay != 0.0) => f.visit::<_, 2>(&Kernel::<_, WD>(c)));
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Adadelta,
    [
        lr,
        rho,
        eps,
        weight_decay,
        foreach,
        capturable,
        maximize,
        differentiable
    ]
);
