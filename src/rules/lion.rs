//! Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").
//!
//! Matches lion-pytorch 0.2.5 (`lion_pytorch/lion_pytorch.py:14-26` and `:79`):
//!
//! ```text
//! λ' ← λ / lr₀                             if decoupled_weight_decay (lr₀ = the constructor's lr)
//! θ ← θ·(1 − lr·λ')                        (always applied; a factor of exactly 1 when λ = 0)
//! u ← sign(β₁·m + (1 − β₁)·g)              sign(0) = 0, as torch.sign
//! θ ← θ − lr·u
//! m ← β₂·m + (1 − β₂)·g
//! ```
//!
//! State: one slot, `exp_avg`. No step counter is needed by the math (ours counts anyway).

use crate::drive::Body;

use crate::error::{Error, check, non_negative};
use crate::lanes::{Lanes, Real};
use crate::rules::{Rule, Visit, const_bools, decoupled_decay, name_slots_lr};

/// lion-pytorch `Lion` hyperparameters (its names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Lion {
    /// Learning rate (default 1e-4).
    pub lr: f64,
    /// (β₁, β₂): interpolation for the update sign and for the momentum (default (0.9, 0.99)).
    pub betas: (f64, f64),
    /// Weight decay λ, applied as `θ·(1 − lr·λ)` (default 0).
    pub weight_decay: f64,
    /// lion-pytorch's `decoupled_weight_decay`: divide λ by the constructor's learning rate.
    pub decoupled_weight_decay: bool,
    /// lion-pytorch's CUDA Triton kernel switch; only `false` is accepted on CPU.
    pub use_triton: bool,
    /// The learning rate the optimizer was constructed with (lion-pytorch's `_init_lr`), used by
    /// `decoupled_weight_decay`. The builder sets it to the top-level `lr`.
    pub init_lr: f64,
}

impl Lion {
    /// lion-pytorch's defaults.
    pub const DEFAULT: Lion = Lion {
        lr: 1e-4,
        betas: (0.9, 0.99),
        weight_decay: 0.0,
        decoupled_weight_decay: false,
        use_triton: false,
        init_lr: 1e-4,
    };

    /// State slots per element: 1 (`exp_avg`).
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

impl Default for Lion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    decay: C,
    beta1: C,
    one_minus_beta1: C,
    beta2: C,
    one_minus_beta2: C,
    neg_lr: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Lion) -> Self {
        let (beta1, beta2) = h.betas;
        let wd = if h.decoupled_weight_decay {
            h.weight_decay / h.init_lr
        } else {
            h.weight_decay
        };
        Coeffs {
            decay: C::from_f64(1.0 - h.lr * wd),
            beta1: C::from_f64(beta1),
            one_minus_beta1: C::from_f64(1.0 - beta1),
            beta2: C::from_f64(beta2),
            one_minus_beta2: C::from_f64(1.0 - beta2),
            neg_lr: C::from_f64(-h.lr),
        }
    }
}

/// The body; `DECAY` is false when the decay factor is exactly 1 (`θ·1 = θ`, so skipping the
/// multiply changes no bits).
struct Kernel<C, const DECAY: bool>(Coeffs<C>);

impl<C: Real, const DECAY: bool> Body<C, 1> for Kernel<C, DECAY> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [m]: &mut [V; 1]) -> V {
        let k = V::splat;
        let c = &self.0;
        let p = if DECAY {
            decoupled_decay(p, c.decay)
        } else {
            p
        }; // p.mul_(1. - lr * wd)
        let u = (*m * k(c.beta1) + k(c.one_minus_beta1) * g).sign();
        *m = *m * k(c.beta2) + k(c.one_minus_beta2) * g; // exp_avg.mul_(beta2).add_(grad, ...)
        p + k(c.neg_lr) * u //                                p.add_(update, alpha=-lr)
    }
}

impl Rule for Lion {
    name_slots_lr!("Lion", |_| 1);

    fn validate(&self) -> Result<(), Error> {
        // lion-pytorch asserts `lr > 0` at construction; a scheduler may later set 0.
        non_negative!("lr", self.lr)?;
        let (b1, b2) = self.betas;
        check(
            "betas[0]",
            b1,
            (0.0..=1.0).contains(&b1),
            "0 <= betas[0] <= 1",
        )?;
        check(
            "betas[1]",
            b2,
            (0.0..=1.0).contains(&b2),
            "0 <= betas[1] <= 1",
        )?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)?;
        // lion-pytorch's constructor: `assert lr > 0.` (and `decoupled_weight_decay` divides by it).
        let l0 = self.init_lr;
        check(
            "lr",
            l0,
            l0 > 0.0 && l0.is_finite(),
            "lr > 0 at construction",
        )?;
        if self.use_triton {
            return Err(Error::Conflict {
                key: "use_triton",
                reason: "the Triton kernel is CUDA-only; these CPU kernels compute the same update",
                group: None,
            });
        }
        Ok(())
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), _step: u64, f: F) {
        let c = Coeffs::<C>::new(self);
        const_bools!((DECAY = c.decay != C::one()) => f.visit::<_, 1>(&Kernel::<_, DECAY>(c)));
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Lion,
    [lr, betas, weight_decay, use_triton, decoupled_weight_decay]
);
