//! Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019), with L2 or decoupled weight
//! decay, AMSGrad and `maximize`.
//!
//! Matches `torch.optim.Adam` / `torch.optim.AdamW` (PyTorch 2.15, `_single_tensor_adam`,
//! `torch/optim/adam.py:348-551`; `AdamW` is `Adam` with `decoupled_weight_decay=True`):
//!
//! ```text
//! g ← −g                                   if maximize
//! θ ← θ·(1 − lr·λ)                         if λ ≠ 0 and decoupled (AdamW)
//! g ← g + λ·θ                              if λ ≠ 0 and not decoupled (Adam's L2)
//! m ← lerp(m, g, 1 − β₁)                   (PyTorch's two-branch lerp)
//! v ← β₂·v + ((1 − β₂)·g)·g
//! v̂ ← max(v̂, v)                            if amsgrad (NaN propagates, as torch.maximum)
//! d ← √v · (1 / √(1 − β₂ᵗ)) + ε            (√v̂ with amsgrad; ε outside the root)
//! θ ← θ + (−lr / (1 − β₁ᵗ))·m / d
//! ```
//!
//! `t` is the tensor's own step count. The bias corrections and step size are computed in f64 per
//! step and rounded once, as PyTorch computes them in Python floats.
//!
//! One deliberate difference in operation order: PyTorch divides `√v` by `√(1 − β₂ᵗ)`; we multiply
//! by its reciprocal (computed in f64, rounded once). The two agree to about one ulp of the
//! denominator, and it saves one of the two vector divisions per element, which otherwise bound
//! the kernel by the divider rather than by memory bandwidth. State slots: `exp_avg`,
//! `exp_avg_sq`, and `max_exp_avg_sq` with amsgrad.

use crate::drive::Body;

use crate::error::Error;
use crate::lanes::{Lanes, Real};
use crate::math::{pow_f64, sqrt_f64};
use crate::rules::{
    Lerp, Rule, Visit, check_adam_family, check_fused, const_bools, decoupled_decay, name_slots_lr,
};

/// `torch.optim.Adam` / `torch.optim.AdamW` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Coefficients (β₁, β₂) of the running averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to the denominator (default 1e-8).
    pub eps: f64,
    /// Weight decay λ (Adam default 0, AdamW default 1e-2).
    pub weight_decay: f64,
    /// Use the AMSGrad variant (default false).
    pub amsgrad: bool,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// Decoupled weight decay `θ·(1 − lr·λ)` (AdamW) instead of L2 (Adam).
    pub decoupled_weight_decay: bool,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
    /// PyTorch dispatch flag; accepted. Our kernels always use a correctly rounded square root,
    /// like PyTorch's fused kernels.
    pub fused: Option<bool>,
}

impl Adam {
    /// `torch.optim.Adam`'s defaults.
    pub const ADAM: Adam = Adam {
        lr: 1e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
        amsgrad: false,
        maximize: false,
        decoupled_weight_decay: false,
        foreach: None,
        capturable: false,
        differentiable: false,
        fused: None,
    };

    /// `torch.optim.AdamW`'s defaults as an `Adam`: `weight_decay = 1e-2`, decoupled (the same
    /// optimizer as [`AdamW::DEFAULT`](crate::rules::AdamW::DEFAULT)).
    pub const ADAMW: Adam = Adam {
        weight_decay: 1e-2,
        decoupled_weight_decay: true,
        ..Adam::ADAM
    };

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

impl Default for Adam {
    fn default() -> Self {
        Self::ADAM
    }
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    /// L2 coefficient λ (Adam), used only when `l2` is set.
    weight_decay: C,
    l2: bool,
    /// `1 − lr·λ` for decoupled decay (AdamW), exactly 1 otherwise (`θ·1 = θ` for every θ).
    decay: C,
    m: Lerp<C>,
    beta2: C,
    one_minus_beta2: C,
    inv_bc2_sqrt: C,
    eps: C,
    neg_step_size: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Adam, step: u64) -> Self {
        let (beta1, beta2) = h.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - pow_f64(beta1, t);
        let bias_correction2 = 1.0 - pow_f64(beta2, t);
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
            inv_bc2_sqrt: C::from_f64(1.0 / sqrt_f64(bias_correction2)),
            eps: C::from_f64(h.eps),
            neg_step_size: C::from_f64(-(h.lr / bias_correction1)),
        }
    }
}

/// The body, with the per-step choices (L2 decay, lerp formula) as const generics.
struct Kernel<C, const L2: bool, const SMALL: bool>(Coeffs<C>);

impl<C: Real, const L2: bool, const SMALL: bool> Kernel<C, L2, SMALL> {
    /// Decay and moments; returns (θ, m, v).
    #[inline(always)]
    fn moments<V: Lanes<Scalar = C>>(&self, p: V, g: V, m: V, v: V) -> (V, V, V) {
        let c = &self.0;
        let mut g = g * V::splat(c.grad_sign); //            −g is exact, so is g·(±1)
        if L2 {
            g = g + V::splat(c.weight_decay) * p; //          grad.add(param, alpha=wd)
        }
        let p = decoupled_decay(p, c.decay); //               param.mul_(1 - lr * wd)
        let m = c.m.apply::<V, SMALL>(m, g); //               exp_avg.lerp_(grad, 1 - beta1)
        let v = v * V::splat(c.beta2) + V::splat(c.one_minus_beta2) * g * g;
        (p, m, v)
    }

    /// θ + (−step_size·m) / (√v · (1/√bc₂) + ε)  —  param.addcdiv_(exp_avg, denom, value=-step_size)
    #[inline(always)]
    fn apply_update<V: Lanes<Scalar = C>>(&self, p: V, m: V, v: V) -> V {
        let c = &self.0;
        let denom = v.root() * V::splat(c.inv_bc2_sqrt) + V::splat(c.eps);
        p + V::splat(c.neg_step_size) * m / denom
    }
}

impl<C: Real, const L2: bool, const SMALL: bool> Body<C, 2> for Kernel<C, L2, SMALL> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [m, v]: &mut [V; 2]) -> V {
        let (p, nm, nv) = self.moments(p, g, *m, *v);
        (*m, *v) = (nm, nv);
        self.apply_update(p, nm, nv)
    }
}

impl<C: Real, const L2: bool, const SMALL: bool> Body<C, 3> for Kernel<C, L2, SMALL> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [m, v, vmax]: &mut [V; 3]) -> V {
        let (p, nm, nv) = self.moments(p, g, *m, *v);
        (*m, *v) = (nm, nv);
        *vmax = vmax.max_nan(nv); // torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=...)
        self.apply_update(p, nm, *vmax)
    }
}

impl Rule for Adam {
    name_slots_lr!("Adam", |r| Adam::slots(r));

    fn validate(&self) -> Result<(), Error> {
        check_adam_family(self.lr, self.eps, self.betas, self.weight_decay)?;
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
        const_bools!((L2 = c.l2, SMALL = c.m.small) => {
            let k = Kernel::<C, L2, SMALL>(c);
            if self.amsgrad {
                f.visit::<_, 3>(&k)
            } else {
                f.visit::<_, 2>(&k)
            }
        })
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Adam,
    [
        lr,
        betas,
        eps,
        weight_decay,
        amsgrad,
        foreach,
        maximize,
        capturable,
        differentiable,
        fused,
        decoupled_weight_decay
    ]
);
