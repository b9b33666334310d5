//! Rprop: resilient backpropagation (Riedmiller & Braun 1993, "A Direct Adaptive Method for
//! Faster Backpropagation Learning: The RPROP Algorithm"), with `maximize`.
//!
//! Matches `torch.optim.Rprop` (PyTorch 2.15, `_single_tensor_rprop`,
//! `torch/optim/rprop.py:224-292`), element by element:
//!
//! ```text
//! g ← −g                                    if maximize
//! s ← sign(g·prev)                          torch.sign: 0 for ±0 and NaN
//! f ← η₊ where s > 0;  then η₋ where f < 0;  then 1 where f = 0
//! Δ ← clamp(Δ·f, Δmin, Δmax)                min(max(Δ·f, Δmin), Δmax): Δmax wins if Δmin > Δmax
//! g ← 0 where f = η₋                        (the sign flipped: no step, and no flip next time)
//! θ ← θ + (−1·sign(g))·Δ
//! prev ← g
//! ```
//!
//! (η₋, η₊) = `etas`, (Δmin, Δmax) = `step_sizes`. Every comparison is made on the values as the
//! compute type holds them, as torch compares its tensors: in f32, an `η₋` that rounds to 0 turns
//! into 1 at the third replacement (no decrease, no zeroing), and an `η₊` or `η₋` that rounds to 1
//! compares equal to the factor of an unchanged sign. (Rprop's `lr` only seeds the step sizes:
//! `Δ` starts at the group's lr at the tensor's first update, when torch creates the state;
//! later lr changes do not reach it.)
//!
//! State slots: `prev` (the previous gradient, zeroed where the sign flipped), `step_size` (Δ).
//! Zero-initialised state reproduces torch's initial state: on the tensor's first update `prev` is
//! 0 and `step_size` is taken as lr (the slot is not read).

use crate::drive::Body;

use crate::error::{Error, check, non_negative};
use crate::lanes::{Lanes, Real};
use crate::rules::{Rule, Visit, check_foreach_differentiable, const_bools, name_slots_lr};

/// `torch.optim.Rprop` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Rprop {
    /// Learning rate: the initial step size of every element (default 1e-2).
    pub lr: f64,
    /// (η₋, η₊): the step size's multiplicative decrease and increase (default (0.5, 1.2)).
    pub etas: (f64, f64),
    /// (Δmin, Δmax): the step size's bounds (default (1e-6, 50)).
    pub step_sizes: (f64, f64),
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
}

impl Rprop {
    /// `torch.optim.Rprop`'s defaults.
    pub const DEFAULT: Rprop = Rprop {
        lr: 1e-2,
        etas: (0.5, 1.2),
        step_sizes: (1e-6, 50.0),
        capturable: false,
        foreach: None,
        maximize: false,
        differentiable: false,
    };

    /// State slots per element: 2 (`prev`, `step_size`).
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

impl Default for Rprop {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, rounded once to the compute type.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    /// The initial step size (first update only).
    lr: C,
    etaminus: C,
    /// η₋ as the factor chain leaves it: 1 if η₋ rounds to 0 in `C` (torch's third replacement,
    /// `sign[sign.eq(0)] = 1`, then also hits the elements set to η₋).
    etaminus_factor: C,
    etaplus: C,
    step_size_min: C,
    step_size_max: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Rprop) -> Self {
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            lr: C::from_f64(h.lr),
            etaminus: C::from_f64(h.etas.0),
            etaminus_factor: if C::from_f64(h.etas.0) == C::zero() {
                C::one()
            } else {
                C::from_f64(h.etas.0)
            },
            etaplus: C::from_f64(h.etas.1),
            step_size_min: C::from_f64(h.step_sizes.0),
            step_size_max: C::from_f64(h.step_sizes.1),
        }
    }
}

/// The body; `FIRST` is the tensor's first update (`prev = 0`, `step_size = lr`, neither slot
/// read).
struct Kernel<C, const FIRST: bool>(Coeffs<C>);

impl<C: Real, const FIRST: bool> Body<C, 2> for Kernel<C, FIRST> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [prev, step]: &mut [V; 2]) -> V {
        let c = &self.0;
        let k = V::splat;
        let (zero, one) = (k(C::zero()), k(C::one()));
        let g = g * k(c.grad_sign); //                               −g is exact, so is g·(±1)
        let (before, size) = if FIRST {
            (zero, k(c.lr)) //                                        zeros_like, full_like(lr)
        } else {
            (*prev, *step)
        };
        // torch: sign = grad.mul(prev).sign(); sign[sign.gt(0)] = etaplus;
        // sign[sign.lt(0)] = etaminus; sign[sign.eq(0)] = 1. With t = g·prev, sign > 0 ⟺ t > 0
        // and sign < 0 ⟺ t < 0 (torch.sign(NaN) = 0); η₊ > 1 is never touched again, η₋ only if
        // it is 0 (then 1: `etaminus_factor`), and every other element (t = ±0 or NaN) gets 1.
        // Two selects instead of sign() and three: the same bits.
        let t = g * before;
        let f = t.if_gt(zero, k(c.etaplus), t.if_lt(zero, k(c.etaminus_factor), one));
        let size = size * f; //                                       step_size.mul_(sign)
        let lo = k(c.step_size_min);
        let hi = k(c.step_size_max);
        let size = size.if_lt(lo, lo, size); //                       .clamp_(min, max)
        let size = size.if_gt(hi, hi, size);
        let g = f.if_eq(k(c.etaminus), zero, g); //                   grad[sign.eq(etaminus)] = 0
        *step = size;
        *prev = g; //                                                 prev.copy_(grad)
        p + -g.sign() * size //                     param.addcmul_(grad.sign(), step_size, value=-1)
    }
}

impl Rule for Rprop {
    name_slots_lr!("Rprop", |_| 2);

    /// torch's checks (`rprop.py:45-50`: `0 <= lr`, `0 < etas[0] < 1 < etas[1]`), infinities
    /// refused too, NaN step sizes (torch's clamp would make every parameter NaN), and `foreach`
    /// with `differentiable` (torch raises at the first step). Any other `step_sizes` are
    /// accepted, as by torch (with `Δmin > Δmax` every step size is `Δmax`).
    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        let (em, ep) = self.etas;
        check("etas[0]", em, em > 0.0 && em < 1.0, "0 < etas[0] < 1")?;
        check(
            "etas[1]",
            ep,
            ep > 1.0 && ep.is_finite(),
            "1 < etas[1] < inf",
        )?;
        let (lo, hi) = self.step_sizes;
        check("step_sizes[0]", lo, !lo.is_nan(), "a number")?;
        check("step_sizes[1]", hi, !hi.is_nan(), "a number")?;
        check_foreach_differentiable(self.foreach, self.differentiable)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        let c = Coeffs::<C>::new(self);
        const_bools!((FIRST = step <= 1) => f.visit::<_, 2>(&Kernel::<C, FIRST>(c)))
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Rprop,
    [
        lr,
        etas,
        step_sizes,
        capturable,
        foreach,
        maximize,
        differentiable
    ]
);
