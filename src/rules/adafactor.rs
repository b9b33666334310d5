//! Adafactor (Shazeer & Stern 2018), as `torch.optim.Adafactor`: factored second moments for
//! matrices, relative step sizes, update clipping and decoupled weight decay. Not timm's
//! (fairseq's) Adafactor.
//!
//! Matches PyTorch 2.15 `_single_tensor_adafactor` (`torch/optim/_adafactor.py:331-421`). For a
//! tensor with ≥ 2 dimensions, the second moment is factored over its last two dimensions
//! (`[…, m, n]`: a row vector `R` of `m` and a column vector `C` of `n` per leading index);
//! tensors with 0 or 1 dimension keep a full second moment `V`. `t` is the tensor's own step:
//!
//! ```text
//! g ← −g                                        if maximize
//! β̂₂ ← t^beta2_decay;  ρ ← min(lr, 1/√t)
//! α ← max(eps₂, ‖θ‖₂ / √numel) · ρ               (θ before decay; ‖θ‖₂ rounded to the dtype)
//! θ ← θ·(1 − lr·λ)                               if λ ≠ 0
//! factored:    Rᵢ ← lerp(Rᵢ, ‖g_i,:‖₂² / n, β̂₂)    Cⱼ ← lerp(Cⱼ, ‖g_:,j‖₂² / m, β̂₂)
//!              v̂ᵢⱼ ← (Rᵢ·Cⱼ) / max(mean(R), eps₁)
//! unfactored:  V ← lerp(V, g·g, β̂₂);  v̂ ← V
//! u ← (1 / √max(v̂, eps₁²)) · g
//! θ ← θ + (−α / max(1, ‖u‖₂ / (√numel · d)))·u
//! ```
//!
//! `eps₁ = None` is `torch.finfo(param.dtype).eps` ([`Element::EPSILON`]). PyTorch's
//! `lerp` two-branch formula, `max`/`clamp` (NaN propagates through `clamp`; Python's `max(eps₂,
//! NaN)` is `eps₂`) and its rounding points (each norm rounded to the compute type, then squared,
//! then divided) are followed.
//!
//! Reductions: every sum (‖θ‖², the row and column sums of g², Σ R, ‖u‖²) accumulates in `f64`,
//! element by element in row-major order, whatever the lane width: the SIMD and scalar paths
//! give the same bits. PyTorch's vectorised reductions sum in another order, so results differ
//! from PyTorch's by the reductions' rounding (bounded in `tests/replay.rs`).
//!
//! State (`state_len(shape)` elements): factored `R` (`B·m`, leading index major) then `C`
//! (`B·n`); unfactored `V` (`numel`). Workspace: `n` `f64` column sums for a factored tensor, none
//! otherwise. Empty tensors are refused: PyTorch divides by `numel` (`ZeroDivisionError`).

use crate::element::{BLOCK, Element};
use crate::error::{Error, check, non_negative};
use crate::lanes::{Lanes, Real};
use crate::math::{pow_f64, sqrt_f64};
use crate::rules::{Lerp, ShapedRule, name_slots_lr};

/// `torch.optim.Adafactor` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Adafactor {
    /// Learning rate: the cap of the relative step `min(lr, 1/√t)` and the decay rate's lr
    /// (default 1e-2).
    pub lr: f64,
    /// Exponent of the second-moment decay `1 − β₂ₜ = t^beta2_decay` (default −0.8).
    pub beta2_decay: f64,
    /// `(eps₁, eps₂)`: the floor of the second moment (`None`: the parameter dtype's machine
    /// epsilon) and of the parameter RMS (default `(None, 1e-3)`).
    pub eps: (Option<f64>, f64),
    /// Clipping threshold of the update RMS (default 1.0).
    pub d: f64,
    /// Decoupled weight decay λ, applied as `θ·(1 − lr·λ)` (default 0.0).
    pub weight_decay: f64,
    /// PyTorch dispatch flag; accepted. Our arithmetic has no fused multiply-add, which is what
    /// the `foreach` path computes.
    pub foreach: Option<bool>,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
}

impl Adafactor {
    /// `torch.optim.Adafactor`'s defaults.
    pub const DEFAULT: Adafactor = Adafactor {
        lr: 1e-2,
        beta2_decay: -0.8,
        eps: (None, 1e-3),
        d: 1.0,
        weight_decay: 0.0,
        foreach: None,
        maximize: false,
    };

    /// State elements for a tensor of this shape: `B·m + B·n` for `[…, m, n]` (`B` the product
    /// of the leading dimensions), `numel` for 0 or 1 dimension. Saturates on overflow. Usable in
    /// `const` array lengths.
    #[inline]
    pub const fn state_len(&self, shape: &[usize]) -> usize {
        match factored(shape) {
            Some((b, m, n)) => b.saturating_mul(m).saturating_add(b.saturating_mul(n)),
            None => super::shaped::numel(shape),
        }
    }

    /// Workspace (`f64`) elements for a tensor of this shape: `n` column sums for `[…, m, n]`,
    /// none for 0 or 1 dimension.
    #[inline]
    pub const fn workspace_len(&self, shape: &[usize]) -> usize {
        match factored(shape) {
            Some((_, _, n)) => n,
            None => 0,
        }
    }
}

impl Default for Adafactor {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `(B, m, n)` of a tensor with ≥ 2 dimensions, factored over its last two; `None` otherwise.
const fn factored(shape: &[usize]) -> Option<(usize, usize, usize)> {
    let k = shape.len();
    if k < 2 {
        return None;
    }
    let mut b = 1usize;
    let mut i = 0;
    while i + 2 < k {
        b = b.saturating_mul(shape[i]);
        i += 1;
    }
    Some((b, shape[k - 2], shape[k - 1]))
}

/// Python's `max(a, b)` for floats: `b` if `b > a`, else `a` (so `max(a, NaN)` is `a`).
#[inline]
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Per-step scalars: the f64 ones as Python computes them, the rest rounded once to `C`.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    /// `1 − lr·λ`, exactly 1 without decay.
    decay: C,
    /// `lerp(·, ·, β̂₂)`.
    beta2: Lerp<C>,
    /// `eps₁` (floor of `mean(R)`) and `eps₁²` (floor of `v̂`), rounded to `C`.
    eps1: C,
    eps1_sq: C,
    /// `ρ` and `eps₂` (Python floats).
    rho: f64,
    eps2: f64,
    d: f64,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &Adafactor, step: u64, dtype_eps: f64) -> Self {
        let t = step as f64;
        let one_minus_beta2_t = pow_f64(t, h.beta2_decay); // step_float**beta2_decay
        let inv_sqrt_t = 1.0 / pow_f64(t, 0.5); // 1 / (step_float**0.5)
        let rho = if inv_sqrt_t < h.lr { inv_sqrt_t } else { h.lr }; // min(lr, …)
        let eps1 = h.eps.0.unwrap_or(dtype_eps);
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            decay: C::from_f64(if h.weight_decay != 0.0 {
                1.0 - h.lr * h.weight_decay
            } else {
                1.0
            }),
            beta2: Lerp::new(one_minus_beta2_t),
            eps1: C::from_f64(eps1),
            eps1_sq: C::from_f64(eps1 * eps1),
            rho,
            eps2: h.eps.1,
            d: h.d,
        }
    }

    /// `lerp(a, b, β̂₂)` with PyTorch's formula for the weight.
    #[inline(always)]
    fn lerp<V: Lanes<Scalar = C>>(&self, a: V, b: V) -> V {
        if self.beta2.small {
            self.beta2.apply::<V, true>(a, b)
        } else {
            self.beta2.apply::<V, false>(a, b)
        }
    }

    /// `u = (1/√max(v̂, eps₁²)) · g`: `var_estimate.clamp_(min=eps1²).rsqrt_().mul_(grad)`.
    #[inline(always)]
    fn update<V: Lanes<Scalar = C>>(&self, v: V, g: V) -> V {
        let v = v.max_nan(V::splat(self.eps1_sq));
        V::splat(C::one()) / v.root() * (g * V::splat(self.grad_sign))
    }

    /// `θ·(1 − lr·λ) + s·u`.
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, u: V, s: C) -> V {
        p * V::splat(self.decay) + V::splat(s) * u
    }

    /// `torch.linalg.vector_norm(x).square_().div_(n)` from the f64 sum of squares: the norm
    /// rounded to `C`, squared and divided in `C`.
    #[inline]
    fn mean_square(sum_sq: f64, n: usize) -> C {
        let norm = C::from_f64(sqrt_f64(sum_sq));
        norm * norm / C::from_f64(n as f64)
    }
}

/// Sum of squares in f64, in order.
#[inline]
fn sum_sq<T: Element>(xs: &[T]) -> f64 {
    xs.iter().fold(0.0, |acc, x| {
        let x = x.to_f64();
        acc + x * x
    })
}

/// Adds `u²` of the first `n` values of `u` (widened to f64) to `acc`, in order.
#[inline(always)]
fn add_sq<C: Real>(acc: &mut f64, u: &[C]) {
    for &x in u {
        let x = Element::to_f64(x);
        *acc += x * x;
    }
}

/// `u` of row `i` of a factored matrix: `v̂ = (Rᵢ·Cⱼ) / mean(R)`, then [`Coeffs::update`].
#[inline(always)]
fn factored_update<C: Real, V: Lanes<Scalar = C>>(
    c: &Coeffs<C>,
    r: C,
    rmean: C,
    col: V,
    g: V,
) -> V {
    c.update(V::splat(r) * col / V::splat(rmean), g)
}

/// Updates one matrix's factors from its gradient (`work`: `n` column sums) and returns
/// `max(mean(R), eps₁)`.
fn update_factors<P, S>(
    c: &Coeffs<P::Compute>,
    g: &[P],
    r: &mut [S],
    col: &mut [S],
    work: &mut [f64],
) -> P::Compute
where
    P: Element,
    S: Element<Compute = P::Compute>,
{
    let (m, n) = (r.len(), col.len());
    work.fill(0.0);
    for (gi, ri) in g.chunks_exact(n).zip(r.iter_mut()) {
        // ‖g_i,:‖² and the column sums, in one pass over the row.
        let mut s = 0.0f64;
        for (w, x) in work.iter_mut().zip(gi) {
            let x = x.to_f64();
            let x2 = x * x;
            s += x2;
            *w += x2;
        }
        let mean = Coeffs::<P::Compute>::mean_square(s, n);
        *ri = S::from_compute(c.lerp(ri.to_compute(), mean));
    }
    for (cj, &s) in col.iter_mut().zip(work.iter()) {
        let mean = Coeffs::<P::Compute>::mean_square(s, m);
        *cj = S::from_compute(c.lerp(cj.to_compute(), mean));
    }
    row_mean(c, r)
}

/// `row_var.mean(dim=-2).clamp_(min=eps1)`: Σ R in f64, in order, divided by `m`, rounded once.
#[inline]
fn row_mean<C: Real, S: Element<Compute = C>>(c: &Coeffs<C>, r: &[S]) -> C {
    let sum = r.iter().fold(0.0f64, |a, x| a + x.to_f64());
    C::from_f64(sum / r.len() as f64).max_nan(c.eps1)
}

/// `−α / max(1, ‖u‖₂ / (√numel · d))`, with `‖u‖₂` rounded to the compute type as `.item()` of
/// the update tensor.
#[inline]
fn step_size<C: Real>(c: &Coeffs<C>, alpha: f64, norm_sq: f64, sqrt_numel: f64) -> C {
    let norm = C::from_f64(sqrt_f64(norm_sq)).to_f64();
    let denom = py_max(1.0, norm / (sqrt_numel * c.d));
    C::from_f64(-alpha / denom)
}

impl ShapedRule for Adafactor {
    type Work = f64;

    name_slots_lr!("Adafactor");

    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        let b = self.beta2_decay;
        check(
            "beta2_decay",
            b,
            b <= 0.0 && b.is_finite(),
            "-inf < beta2_decay <= 0",
        )?;
        if let Some(e1) = self.eps.0 {
            check(
                "eps[0]",
                e1,
                e1 >= 0.0 && e1.is_finite(),
                "0 <= eps[0] < inf, or None",
            )?;
        }
        let e2 = self.eps.1;
        non_negative!("eps[1]", e2)?;
        check("d", self.d, self.d >= 1.0, "d >= 1")?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)
    }

    #[inline]
    fn check_shape(&self, shape: &[usize]) -> Result<(), &'static str> {
        if shape.contains(&0) {
            return Err(
                "Adafactor needs a non-empty tensor (torch.optim.Adafactor divides by its \
                        number of elements: ZeroDivisionError)",
            );
        }
        Ok(())
    }

    #[inline]
    fn state_len(&self, shape: &[usize]) -> usize {
        Adafactor::state_len(self, shape)
    }

    #[inline]
    fn workspace_len(&self, shape: &[usize]) -> usize {
        Adafactor::workspace_len(self, shape)
    }

    fn update_with<P, S, V, W>(
        &self,
        step: u64,
        shape: &[usize],
        p: &mut [P],
        g: &[P],
        state: &mut [S],
        work: &mut [f64],
    ) where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
        W: Lanes<Scalar = f32>,
    {
        let c = Coeffs::<P::Compute>::new(self, step, P::EPSILON);
        let numel = p.len();
        if numel == 0 {
            return;
        }
        let sqrt_numel = pow_f64(numel as f64, 0.5); // numel ** 0.5
        // α from the parameter before decay: param.norm(2).item() in the parameter's dtype.
        let rms = P::from_f64(sqrt_f64(sum_sq(p))).to_f64() / sqrt_numel;
        let alpha = py_max(c.eps2, rms) * c.rho;
        let mut buf = [<P::Compute>::default(); BLOCK];
        let mut norm_sq = 0.0f64;
        match factored(shape) {
            Some((b, m, n)) => {
                let (rows, cols) = state.split_at_mut(b * m);
                let Some(work) = work.get_mut(..n) else {
                    return;
                };
                // Pass 1 per matrix: the factors and mean(R); pass 2: ‖u‖² (u into `buf`, then
                // summed in order).
                let mats = g.chunks_exact(m * n);
                let factors = rows.chunks_exact_mut(m).zip(cols.chunks_exact_mut(n));
                for (g, (r, col)) in mats.zip(factors) {
                    let rmean = update_factors::<P, S>(&c, g, r, col, work);
                    for (gi, ri) in g.chunks_exact(n).zip(r.iter()) {
                        let ri = ri.to_compute();
                        let mut j = 0;
                        while j + V::WIDTH <= n {
                            let (cv, gv) = (S::load::<V>(&col[j..]), P::load::<V>(&gi[j..]));
                            factored_update(&c, ri, rmean, cv, gv).store(&mut buf[..]);
                            add_sq(&mut norm_sq, &buf[..V::WIDTH]);
                            j += V::WIDTH;
                        }
                        for (cj, gj) in col[j..].iter().zip(&gi[j..]) {
                            let u =
                                factored_update(&c, ri, rmean, cj.to_compute(), gj.to_compute());
                            add_sq(&mut norm_sq, &[u]);
                        }
                    }
                }
                let s = step_size::<P::Compute>(&c, alpha, norm_sq, sqrt_numel);
                // Pass 3: θ ← θ·(1 − lr·λ) + s·u, u recomputed bit for bit.
                let mats = p.chunks_exact_mut(m * n).zip(g.chunks_exact(m * n));
                let factors = rows.chunks_exact(m).zip(cols.chunks_exact(n));
                for ((p, g), (r, col)) in mats.zip(factors) {
                    let rmean = row_mean(&c, r);
                    for ((pi, gi), ri) in p.chunks_exact_mut(n).zip(g.chunks_exact(n)).zip(r) {
                        let ri = ri.to_compute();
                        let mut j = 0;
                        while j + V::WIDTH <= n {
                            let (cv, gv) = (S::load::<V>(&col[j..]), P::load::<V>(&gi[j..]));
                            let u = factored_update(&c, ri, rmean, cv, gv);
                            P::store(c.apply(P::load::<V>(&pi[j..]), u, s), &mut pi[j..]);
                            j += V::WIDTH;
                        }
                        for ((x, cj), gj) in pi[j..].iter_mut().zip(&col[j..]).zip(&gi[j..]) {
                            let u =
                                factored_update(&c, ri, rmean, cj.to_compute(), gj.to_compute());
                            *x = P::from_compute(c.apply(x.to_compute(), u, s));
                        }
                    }
                }
            }
            None => {
                // V ← lerp(V, g·g, β̂₂) and ‖u‖², then θ with u recomputed from V.
                let mut i = 0;
                while i + V::WIDTH <= numel {
                    let gv = P::load::<V>(&g[i..]);
                    let v = c.lerp(S::load::<V>(&state[i..]), gv * gv);
                    S::store(v, &mut state[i..]);
                    c.update::<V>(v, gv).store(&mut buf[..]);
                    add_sq(&mut norm_sq, &buf[..V::WIDTH]);
                    i += V::WIDTH;
                }
                for (v, gi) in state[i..].iter_mut().zip(&g[i..]) {
                    let gs = gi.to_compute();
                    let nv = c.lerp(v.to_compute(), gs * gs);
                    *v = S::from_compute(nv);
                    add_sq(&mut norm_sq, &[c.update(nv, gs)]);
                }
                let s = step_size::<P::Compute>(&c, alpha, norm_sq, sqrt_numel);
                let mut i = 0;
                while i + V::WIDTH <= numel {
                    let u = c.update::<V>(S::load::<V>(&state[i..]), P::load::<V>(&g[i..]));
                    P::store(c.apply(P::load::<V>(&p[i..]), u, s), &mut p[i..]);
                    i += V::WIDTH;
                }
                for ((x, v), gi) in p[i..].iter_mut().zip(&state[i..]).zip(&g[i..]) {
                    let u = c.update(v.to_compute(), gi.to_compute());
                    *x = P::from_compute(c.apply(x.to_compute(), u, s));
                }
            }
        }
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Adafactor,
    [lr, beta2_decay, eps, d, weight_decay, foreach, maximize]
);
