//! ASGD: averaged stochastic gradient descent (Polyak & Juditsky 1992, "Acceleration of
//! Stochastic Approximation by Averaging"), with L2 weight decay and `maximize`.
//!
//! Matches `torch.optim.ASGD` (PyTorch 2.15, `_single_tensor_asgd`,
//! `torch/optim/asgd.py:202-279`):
//!
//! ```text
//! g ← −g                                    if maximize
//! g ← g + λ_wd·θ                            if weight_decay ≠ 0
//! θ ← θ·(1 − λ·ηₜ)                          λ = lambd; ηₜ, μₜ: the tensor's current eta and mu
//! θ ← θ − ηₜ·g
//! ax ← ax + (θ − ax)·μₜ                     if μₜ ≠ 1
//! ax ← θ                                    if μₜ = 1 (so for the first t₀ + 1 updates)
//! then, for the next update (with the lr of this step):
//! ηₜ₊₁ = lr / (1 + λ·lr·t)^α
//! μₜ₊₁ = 1 / max(1, t − t₀)
//! ```
//!
//! `t` is the tensor's own step count; `η₁ = lr` (the group's lr at the tensor's first update,
//! when torch creates the state) and `μ₁ = 1`. So an update uses the `eta` and `mu` computed at
//! the end of the previous one, as torch does: an lr change reaches `eta` one update late.
//! `eta` and `mu` are the tensor's [`AsgdScalars`], kept in f64 and advanced by
//! [`Rule::begin_tensor`] (torch keeps them as 0-dim tensors of `_get_scalar_dtype()`: float32,
//! or float64 when the default dtype is float64). The choice between copying and averaging is
//! made on `μₜ` as the kernel sees it (rounded to the compute type), as torch decides on its
//! scalar-dtype `mu`.
//!
//! State slot: `ax`, the averaged parameters ([`crate::Optimizer::state`] of an ASGD tensor is
//! exactly the average, as torch's `state["ax"]`). For f16/bf16 parameters `ax` is f32 and holds
//! the parameters before they are rounded to the storage type.

use crate::drive::Body;

use crate::error::{Error, non_negative};
use crate::lanes::{Lanes, Real};
use crate::math::pow_f64;
use crate::rules::{
    Rule, Visit, check_foreach_differentiable, const_bools, decoupled_decay, name_slots_lr,
};

/// `torch.optim.ASGD` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Asgd {
    /// Learning rate (default 1e-2).
    pub lr: f64,
    /// Decay term λ (default 1e-4).
    pub lambd: f64,
    /// Power α of the eta schedule (default 0.75).
    pub alpha: f64,
    /// The step after which averaging starts (default 1e6).
    pub t0: f64,
    /// L2 penalty added to the gradient (default 0).
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

impl Asgd {
    /// `torch.optim.ASGD`'s defaults.
    pub const DEFAULT: Asgd = Asgd {
        lr: 1e-2,
        lambd: 1e-4,
        alpha: 0.75,
        t0: 1e6,
        weight_decay: 0.0,
        foreach: None,
        maximize: false,
        differentiable: false,
        capturable: false,
    };

    /// State slots per element: 1 (`ax`).
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

impl Default for Asgd {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// ASGD's per-tensor scalars `eta` (the step size) and `mu` (the averaging weight), in f64. As
/// [`Rule::TensorState`] they are what the tensor's next update uses (torch's `state["eta"]`,
/// `state["mu"]`); as [`Rule::Scalars`], what the current update uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AsgdScalars {
    /// The step size ηₜ.
    pub eta: f64,
    /// The averaging weight μₜ (1: `ax` copies the parameters).
    pub mu: f64,
}

impl Default for AsgdScalars {
    /// `mu = 1`; `eta` is set from the lr at the tensor's first update.
    fn default() -> Self {
        AsgdScalars { eta: 0.0, mu: 1.0 }
    }
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    weight_decay: C,
    /// `1 − λ·ηₜ`.
    decay: C,
    neg_eta: C,
    mu: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Asgd, s: &AsgdScalars) -> Self {
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            weight_decay: C::from_f64(h.weight_decay),
            decay: C::from_f64(1.0 - h.lambd * s.eta),
            neg_eta: C::from_f64(-s.eta),
            mu: C::from_f64(s.mu),
        }
    }
}

/// The body, with the per-step choices as const generics: L2 decay, a decay factor other than
/// exactly 1, averaging (μ ≠ 1) or copying.
struct Kernel<C, const WD: bool, const DECAY: bool, const AVERAGE: bool>(Coeffs<C>);

impl<C: Real, const WD: bool, const DECAY: bool, const AVERAGE: bool> Body<C, 1>
    for Kernel<C, WD, DECAY, AVERAGE>
{
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [ax]: &mut [V; 1]) -> V {
        let c = &self.0;
        let k = V::splat;
        let mut g = g * k(c.grad_sign); //                −g is exact, so is g·(±1)
        if WD {
            g = g + k(c.weight_decay) * p; //             grad.add(param, alpha=weight_decay)
        }
        let p = if DECAY {
            decoupled_decay(p, c.decay) //                param.mul_(1 - lambd * eta)
        } else {
            p
        };
        let p = p + k(c.neg_eta) * g; //                  param.add_(grad, alpha=-eta)
        *ax = if AVERAGE {
            *ax + (p - *ax) * k(c.mu) //                  ax.add_(param.sub(ax).mul_(mu))
        } else {
            p //                                          ax.copy_(param)
        };
        p
    }
}

impl Rule for Asgd {
    name_slots_lr!("ASGD", |_| 1);

    /// torch's checks (`asgd.py:44-51`), in its order; infinities are refused too, and
    /// `foreach` with `differentiable` (torch raises at the first step). `t0` is not
    /// checked (torch does not either: any value, NaN included, gives `mu = 1/max(1, t − t0)`
    /// as Python's `max` does).
    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        non_negative!("lambd", self.lambd)?;
        non_negative!("alpha", self.alpha)?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)?;
        check_foreach_differentiable(self.foreach, self.differentiable)
    }

    type Schedule = ();
    type Scalars = AsgdScalars;
    type TensorState = AsgdScalars;

    /// The group-level default: what a tensor's first update uses (`eta = lr`, `mu = 1`, as
    /// torch initialises the state).
    #[inline]
    fn begin_step(&self, _: &mut ()) -> AsgdScalars {
        AsgdScalars {
            eta: self.lr,
            mu: 1.0,
        }
    }

    /// Returns the `eta` and `mu` this update uses (the group default on the tensor's first
    /// update, the stored ones afterwards) and stores those of the next update
    /// (`asgd.py:274-279`, with the current lr and step).
    #[inline]
    fn begin_tensor(
        &self,
        scalars: &AsgdScalars,
        step: u64,
        state: &mut AsgdScalars,
    ) -> AsgdScalars {
        let now = if step <= 1 { *scalars } else { *state };
        let t = step as f64;
        let lr = self.lr;
        state.eta = lr / pow_f64(1.0 + self.lambd * lr * t, self.alpha);
        // Python's `1 / max(1, t - t0)`: `max` keeps 1 unless `t - t0 > 1` (so NaN gives 1).
        let d = t - self.t0;
        state.mu = if d > 1.0 { 1.0 / d } else { 1.0 };
        now
    }

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, scalars: &AsgdScalars, _step: u64, f: F) {
        let c = Coeffs::<C>::new(self, scalars);
        let wd = self.weight_decay != 0.0;
        const_bools!((WD = wd, DECAY = c.decay != C::one(), AVERAGE = c.mu != C::one()) => {
            f.visit::<_, 1>(&Kernel::<C, WD, DECAY, AVERAGE>(c))
        })
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Asgd,
    [
        lr,
        lambd,
        alpha,
        t0,
        weight_decay,
        foreach,
        maximize,
        differentiable,
        capturable
    ]
);
