//! Adagrad (Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods for Online Learning and
//! Stochastic Optimization"), with learning-rate decay, L2 weight decay and `maximize`.
//!
//! Matches `torch.optim.Adagrad` (PyTorch 2.15, `_single_tensor_adagrad`,
//! `torch/optim/adagrad.py:364-430`, dense gradients):
//!
//! ```text
//! g ← −g                                   if maximize
//! g ← g + λ·θ                              if λ ≠ 0
//! s ← s + g·g
//! θ ← θ + ((−lr / (1 + (t − 1)·lr_decay))·g) / (√s + ε)      (ε outside the root)
//! ```
//!
//! `t` is the tensor's own step count; the step size is computed in f64 per step and rounded
//! once, as PyTorch computes it in Python floats. State: one slot, `sum`, which starts at
//! `initial_accumulator_value` ([`Rule::initial_state`]), not at zero: PyTorch creates it in the
//! constructor with `torch.full_like(p, initial_accumulator_value)` (`adagrad.py:80-99`), from
//! the **constructor's** argument. A param group's `initial_accumulator_value` is accepted and
//! never read, in PyTorch and here (the optimizer layer initialises state from the
//! constructor-level rule). Sparse gradients are not supported (tensors are dense slices).

use crate::drive::Body;
use crate::error::{Error, non_negative};
use crate::lanes::{Lanes, Real};
use crate::rules::{Rule, Visit, check_fused, const_bools, name_slots_lr};

/// `torch.optim.Adagrad` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Adagrad {
    /// Learning rate (default 1e-2).
    pub lr: f64,
    /// Learning-rate decay: step `t` uses `lr / (1 + (t − 1)·lr_decay)` (default 0).
    pub lr_decay: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// The value every element of `sum` starts at (default 0).
    pub initial_accumulator_value: f64,
    /// Term added to the denominator, outside the square root (default 1e-10).
    pub eps: f64,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
    /// PyTorch dispatch flag (its fused CPU kernel); accepted, no effect on the arithmetic.
    pub fused: Option<bool>,
}

impl Adagrad {
    /// `torch.optim.Adagrad`'s defaults.
    pub const DEFAULT: Adagrad = Adagrad {
        lr: 1e-2,
        lr_decay: 0.0,
        weight_decay: 0.0,
        initial_accumulator_value: 0.0,
        eps: 1e-10,
        foreach: None,
        maximize: false,
        differentiable: false,
        fused: None,
    };

    /// State slots per element: 1 (`sum`).
    #[inline]
    pub const fn slots(&self) -> usize {
        1
    }

    /// State elements for a tensor of `n` elements (usable in `const` array lengths).
    #[inline]
    pub const fn state_len(&self, n: usize) -> usize {
        n
    }
}

impl Default for Adagrad {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    weight_decay: C,
    eps: C,
    /// `−clr = −lr / (1 + (t − 1)·lr_decay)`.
    neg_clr: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Adagrad, step: u64) -> Self {
        let t = step as f64;
        let clr = h.lr / (1.0 + (t - 1.0) * h.lr_decay);
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            weight_decay: C::from_f64(h.weight_decay),
            eps: C::from_f64(h.eps),
            neg_clr: C::from_f64(-clr),
        }
    }
}

/// The body, with L2 decay as a const generic.
struct Kernel<C, const WD: bool>(Coeffs<C>);

impl<C: Real, const WD: bool> Body<C, 1> for Kernel<C, WD> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [s]: &mut [V; 1]) -> V {
        let k = V::splat;
        let c = &self.0;
        let mut g = g * k(c.grad_sign); //           −g is exact, so is g·(±1)
        if WD {
            g = g + k(c.weight_decay) * p; //        grad.add(param, alpha=weight_decay)
        }
        *s = *s + g * g; //                          state_sum.addcmul_(grad, grad, value=1)
        let std = s.root() + k(c.eps); //            state_sum.sqrt().add_(eps)
        p + k(c.neg_clr) * g / std //                param.addcdiv_(grad, std, value=-clr)
    }
}

impl Rule for Adagrad {
    name_slots_lr!("Adagrad", |_| 1);

    /// `sum` starts at `initial_accumulator_value`.
    #[inline]
    fn initial_state(&self, _slot: usize) -> f64 {
        self.initial_accumulator_value
    }

    /// PyTorch's checks, in its order (`adagrad.py:45-78`), each also rejecting ∞ and NaN.
    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        non_negative!("lr_decay", self.lr_decay)?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)?;
        let init = self.initial_accumulator_value;
        non_negative!("initial_accumulator_value", init)?;
        non_negative!("eps", self.eps)?;
        check_fused(self.fused, self.foreach, self.differentiable)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        let c = Coeffs::<C>::new(self, step);
        const_bools!((WD = self.weight_decay != 0.0) => f.visit::<_, 1>(&Kernel::<_, WD>(c)));
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Adagrad,
    [
        lr,
        lr_decay,
        weight_decay,
        initial_accumulator_value,
        eps,
        foreach,
        maximize,
        differentiable,
        fused
    ]
);
