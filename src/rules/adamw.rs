//! AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019).
//!
//! Matches `torch.optim.AdamW` (PyTorch 2.15, `torch/optim/adamw.py:20-57`), which is `Adam` with
//! `weight_decay = 1e-2` and `decoupled_weight_decay = True` forced; it does not accept the
//! `decoupled_weight_decay` key. The arithmetic is [`Adam`]'s kernel:
//!
//! ```text
//! θ ← θ·(1 − lr·λ)                         if λ ≠ 0
//! m ← lerp(m, g, 1 − β₁);  v ← β₂·v + ((1 − β₂)·g)·g
//! θ ← θ + (−lr / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! State slots: `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with amsgrad.

use crate::error::Error;
use crate::lanes::Real;
use crate::rules::{Adam, Rule, Visit, name_slots_lr};

/// `torch.optim.AdamW` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Coefficients (β₁, β₂) of the running averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to the denominator (default 1e-8).
    pub eps: f64,
    /// Decoupled weight decay λ: `θ·(1 − lr·λ)` before the update (default 1e-2).
    pub weight_decay: f64,
    /// Use the AMSGrad variant (default false).
    pub amsgrad: bool,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
    /// PyTorch dispatch flag; accepted (our square root is always correctly rounded).
    pub fused: Option<bool>,
}

impl AdamW {
    /// `torch.optim.AdamW`'s defaults.
    pub const DEFAULT: AdamW = AdamW {
        lr: 1e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 1e-2,
        amsgrad: false,
        maximize: false,
        foreach: None,
        capturable: false,
        differentiable: false,
        fused: None,
    };

    /// The same optimizer as an [`Adam`] with `decoupled_weight_decay = true`.
    #[inline]
    pub const fn to_adam(&self) -> Adam {
        Adam {
            lr: self.lr,
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            amsgrad: self.amsgrad,
            maximize: self.maximize,
            decoupled_weight_decay: true,
            foreach: self.foreach,
            capturable: self.capturable,
            differentiable: self.differentiable,
            fused: self.fused,
        }
    }

    /// State slots per element: 2 (`exp_avg`, `exp_avg_sq`), 3 with amsgrad.
    #[inline]
    pub const fn slots(&self) -> usize {
        if self.amsgrad { 3 } else { 2 }
    }

    /// State elements for a tensor of `n` elements (usable in `const` array lengths).
    #[inline]
    pub const fn state_len(&self, n: usize) -> usize {
        self.slots() * n
    }
}

impl Default for AdamW {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Rule for AdamW {
    name_slots_lr!("AdamW", |r| AdamW::slots(r));
    fn validate(&self) -> Result<(), Error> {
        self.to_adam().validate()
    }
    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        self.to_adam().visit_body(&(), step, f);
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    AdamW,
    [
        lr,
        betas,
        eps,
        weight_decay,
        amsgrad,
        maximize,
        foreach,
        capturable,
        differentiable,
        fused
    ]
);
