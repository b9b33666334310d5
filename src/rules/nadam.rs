//! NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), with L2 or decoupled weight
//! decay (NAdamW), momentum decay and `maximize`.
//!
//! Matches `torch.optim.NAdam` (PyTorch 2.15, `_single_tensor_nadam`,
//! `torch/optim/nadam.py:282-381`):
//!
//! ```text
//! g ← −g                                    if maximize
//! θ ← θ·(1 − lr·λ)                          if λ ≠ 0 and decoupled_weight_decay
//! g ← g + λ·θ                               if λ ≠ 0 and not decoupled (L2)
//! μₜ   = β₁·(1 − ½·0.96^(t·ψ))              ψ = momentum_decay
//! μₜ₊₁ = β₁·(1 − ½·0.96^((t+1)·ψ))
//! Πₜ   = Πₜ₋₁·μₜ                            (mu_product, per tensor, Π₀ = 1)
//! m ← lerp(m, g, 1 − β₁)                    (PyTorch's two-branch lerp)
//! v ← β₂·v + ((1 − β₂)·g)·g
//! d ← √(v · (1 / (1 − β₂ᵗ))) + ε
//! θ ← θ + ((−lr·(1 − μₜ) / (1 − Πₜ))·g + (−lr·μₜ₊₁ / (1 − Πₜ·μₜ₊₁))·m) / d
//! ```
//!
//! Two deliberate differences in operation order, both within rounding of torch's: PyTorch divides
//! `v` by `1 − β₂ᵗ`, we multiply by its reciprocal (computed in f64, rounded once); and PyTorch
//! applies the two terms with two `addcdiv_` calls, each dividing by `d`, where we add the two
//! numerators and divide once (one rounding fewer, and no intermediate rounding of `θ`). Each
//! changes a step by at most an ulp or two of the update; together they take the kernel from
//! three vector divisions and a root per element to one division and a root, which on current
//! x86 cores is what bounds it (see BENCHMARKS.md).
//!
//! `t` is the tensor's own step count. `Πₜ` is the tensor's [`NAdamScalars::mu_product`], kept
//! in f64 and advanced by [`Rule::begin_tensor`] once per update (torch keeps it as a 0-dim
//! tensor of `_get_scalar_dtype()`: float32, or float64 when the default dtype is float64; the f32
//! golden cases measure what that rounding costs). Every per-step scalar is computed in f64 in
//! Python's evaluation order and rounded once.
//!
//! State slots: `exp_avg`, `exp_avg_sq`.

use crate::drive::Body;

use crate::error::{Error, non_negative};
use crate::lanes::{Lanes, Real};
use crate::math::pow_f64;
use crate::rules::{
    Lerp, Rule, Visit, check_adam_family, check_foreach_differentiable, const_bools,
    decoupled_decay, name_slots_lr,
};

/// `torch.optim.NAdam` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct NAdam {
    /// Learning rate (default 2e-3).
    pub lr: f64,
    /// Coefficients (β₁, β₂) of the running averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to the denominator, outside the root (default 1e-8).
    pub eps: f64,
    /// Weight decay λ (default 0).
    pub weight_decay: f64,
    /// Momentum decay ψ of the schedule `μₜ = β₁·(1 − ½·0.96^(t·ψ))` (default 4e-3).
    pub momentum_decay: f64,
    /// Decoupled weight decay `θ·(1 − lr·λ)` (NAdamW) instead of L2 (default false).
    pub decoupled_weight_decay: bool,
    /// PyTorch dispatch flag; accepted, no effect on the arithmetic.
    pub foreach: Option<bool>,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
    /// PyTorch CUDA-graph flag; accepted, no effect here.
    pub capturable: bool,
    /// PyTorch autograd flag; accepted, no effect here.
    pub differentiable: bool,
}

impl NAdam {
    /// `torch.optim.NAdam`'s defaults.
    pub const DEFAULT: NAdam = NAdam {
        lr: 2e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
        momentum_decay: 4e-3,
        decoupled_weight_decay: false,
        foreach: None,
        maximize: false,
        capturable: false,
        differentiable: false,
    };

    /// State slots per element: 2 (`exp_avg`, `exp_avg_sq`).
    #[inline]
    pub const fn slots(&self) -> usize {
        2
    }

    /// State elements for a tensor of `n` elements (usable in `const` array lengths).
    #[inline]
    pub const fn state_len(&self, n: usize) -> usize {
        2 * n
    }

    /// `μₜ = β₁·(1 − ½·0.96^(t·ψ))` (`nadam.py:348`), in f64.
    #[inline]
    fn mu(&self, t: f64) -> f64 {
        self.betas.0 * (1.0 - 0.5 * pow_f64(0.96, t * self.momentum_decay))
    }
}

impl Default for NAdam {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// NAdam's per-tensor scalar: `mu_product`, the product of the momentum schedule `μ₁·…·μₜ` over
/// the tensor's updates. As [`Rule::TensorState`] it is the value after the tensor's last update
/// (1 before the first); as [`Rule::Scalars`] the value the current update uses (this step's `μₜ`
/// multiplied in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NAdamScalars {
    /// `Πₜ = μ₁·μ₂·…·μₜ` (torch's `state["mu_product"]`), in f64.
    pub mu_product: f64,
}

impl Default for NAdamScalars {
    /// torch's initial `mu_product`: 1.
    fn default() -> Self {
        NAdamScalars { mu_product: 1.0 }
    }
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    /// L2 coefficient λ, used only when `l2` is set.
    weight_decay: C,
    l2: bool,
    /// `1 − lr·λ` for decoupled decay, exactly 1 otherwise.
    decay: C,
    m: Lerp<C>,
    beta2: C,
    one_minus_beta2: C,
    /// `1 / (1 − β₂ᵗ)`.
    inv_bias_correction2: C,
    eps: C,
    /// `−lr·(1 − μₜ) / (1 − Πₜ)`: the gradient's coefficient.
    grad_coeff: C,
    /// `−lr·μₜ₊₁ / (1 − Πₜ·μₜ₊₁)`: the momentum's coefficient.
    exp_avg_coeff: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &NAdam, step: u64, mu_product: f64) -> Self {
        let (beta1, beta2) = h.betas;
        let t = step as f64;
        let bias_correction2 = 1.0 - pow_f64(beta2, t);
        let mu = h.mu(t);
        let mu_next = h.mu(t + 1.0);
        let mu_product_next = mu_product * mu_next;
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
            inv_bias_correction2: C::from_f64(1.0 / bias_correction2),
            eps: C::from_f64(h.eps),
            // nadam.py:372-381, Python's evaluation order (`-lr` first).
            grad_coeff: C::from_f64(-h.lr * (1.0 - mu) / (1.0 - mu_product)),
            exp_avg_coeff: C::from_f64((-h.lr * mu_next) / (1.0 - mu_product_next)),
        }
    }
}

/// The body, with the per-step choices (L2 decay, lerp formula) as const generics.
struct Kernel<C, const L2: bool, const SMALL: bool>(Coeffs<C>);

impl<C: Real, const L2: bool, const SMALL: bool> Body<C, 2> for Kernel<C, L2, SMALL> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [m, v]: &mut [V; 2]) -> V {
        let c = &self.0;
        let k = V::splat;
        let mut g = g * k(c.grad_sign); //                    −g is exact, so is g·(±1)
        if L2 {
            g = g + k(c.weight_decay) * p; //                 grad.add(param, alpha=weight_decay)
        }
        let p = decoupled_decay(p, c.decay); //               param.mul_(1 - lr * weight_decay)
        *m = c.m.apply::<V, SMALL>(*m, g); //                 exp_avg.lerp_(grad, 1 - beta1)
        *v = *v * k(c.beta2) + k(c.one_minus_beta2) * g * g; // .mul_(beta2).addcmul_(g, g, 1 - beta2)
        let denom = (*v * k(c.inv_bias_correction2)).root() + k(c.eps); // .div(bc2).sqrt().add_(eps)
        // param.addcdiv_(grad, denom, value=…); param.addcdiv_(exp_avg, denom, value=…)
        p + (k(c.grad_coeff) * g + k(c.exp_avg_coeff) * *m) / denom
    }
}

impl Rule for NAdam {
    name_slots_lr!("NAdam", |_| 2);

    /// torch's checks (`nadam.py:49-62`), in its order; infinities are refused too, and
    /// `foreach` with `differentiable` (torch raises at the first step).
    fn validate(&self) -> Result<(), Error> {
        check_adam_family(self.lr, self.eps, self.betas, self.weight_decay)?;
        let psi = self.momentum_decay;
        non_negative!("momentum_decay", psi)?;
        check_foreach_differentiable(self.foreach, self.differentiable)
    }

    type Schedule = ();
    type Scalars = NAdamScalars;
    type TensorState = NAdamScalars;

    /// The group-level default: a tensor's initial `mu_product` (each tensor refines it in
    /// [`begin_tensor`](Rule::begin_tensor)).
    #[inline]
    fn begin_step(&self, _: &mut ()) -> NAdamScalars {
        NAdamScalars::default()
    }

    /// `mu_product *= μₜ` (`nadam.py:352`): the tensor's product, restarted at 1 on its first
    /// update (torch creates the state then), advanced and returned for this update.
    #[inline]
    fn begin_tensor(
        &self,
        scalars: &NAdamScalars,
        step: u64,
        state: &mut NAdamScalars,
    ) -> NAdamScalars {
        let before = if step <= 1 {
            scalars.mu_product
        } else {
            state.mu_product
        };
        state.mu_product = before * self.mu(step as f64);
        *state
    }

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, scalars: &NAdamScalars, step: u64, f: F) {
        let c = Coeffs::<C>::new(self, step, scalars.mu_product);
        const_bools!((L2 = c.l2, SMALL = c.m.small) => {
            f.visit::<_, 2>(&Kernel::<C, L2, SMALL>(c))
        })
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    NAdam,
    [
        lr,
        betas,
        eps,
        weight_decay,
        momentum_decay,
        decoupled_weight_decay,
        foreach,
        maximize,
        capturable,
        differentiable
    ]
);
