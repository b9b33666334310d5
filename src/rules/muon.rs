//! Muon (Jordan et al. 2024): momentum orthogonalised by a Newton–Schulz iteration, for 2-D
//! parameters, as `torch.optim.Muon`.
//!
//! Matches PyTorch 2.15 `_single_tensor_muon` and `_zeropower_via_newtonschulz`
//! (`torch/optim/_muon.py:32-87,319-352`). For a parameter of shape `[A, B]`:
//!
//! ```text
//! b ← lerp(b, g, 1 − μ)                         (momentum_buffer; PyTorch's two-branch lerp)
//! u ← lerp(g, b, μ) if nesterov else b
//! X ← bf16(u), transposed if A > B               (r × c, r = min(A, B))
//! X ← X / max(‖X‖_F, eps)
//! repeat ns_steps times:
//!     M ← X·Xᵀ
//!     N ← b_ns·M + c_ns·(M·M)
//!     X ← a_ns·X + N·X
//! O ← X (transposed back)
//! θ ← θ·(1 − lr·λ)
//! θ ← θ + (−lr·ratio)·O        ratio: None / "original" √max(1, A/B), "match_rms_adamw"
//!                              0.2·√max(A, B), "spectral_unclamped" √(A/B)
//! ```
//!
//! The orthogonalisation runs in bfloat16, as PyTorch's does for every parameter dtype: `u` is
//! rounded to bf16 (f64 through f32, as PyTorch converts), and every PyTorch op's result is
//! rounded to bf16 once — the norm, the clamp, the division, each product `X·Xᵀ` and each
//! `addmm` (`b_ns·M + c_ns·(M·M)` and `a_ns·X + N·X` computed in f32, then rounded). Products
//! accumulate in f32 like PyTorch's CPU bf16 `mm`/`addmm`: for `C = A·B`, each `C[i][j]` starts
//! at 0 and adds `A[i][k]·B[k][j]` for `k = 0, 1, …` in order (no FMA), in a cache-blocked kernel
//! whose blocking and lane width never change that order — so the SIMD and scalar paths give the
//! same bits. PyTorch's own summation order differs, which changes a bf16 rounding only when an
//! f32 sum lies within its rounding error of a bf16 rounding boundary (see `tests/replay.rs` for
//! the resulting tolerance). The coefficients `(a_ns, b_ns, c_ns)` and `eps` are rounded to f32;
//! `lr·ratio` and `1 − lr·λ` are computed in f64 and rounded once to the compute type.
//!
//! PyTorch rejects every parameter that is not 2-D when the optimizer is built; so does
//! [`check_shape`](ShapedRule::check_shape). State: `momentum_buffer` (`A·B`). Workspace: `2·r·c
//! + 2·r²` `f32` for `X`, `Xᵀ`, `M` and `N` ([`Muon::workspace_len`]).

use crate::element::{BLOCK, Element, bf16_to_f32, f32_to_bf16};
use crate::error::{Error, check, non_negative};
use crate::lanes::{Lanes, Real};
use crate::math::sqrt_f64;
use crate::rules::{Lerp, ShapedRule, name_slots_lr};

/// `torch.optim.Muon`'s `adjust_lr_fn`: how the learning rate scales with the matrix shape
/// `[A, B]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjustLr {
    /// `"original"` (Keller Jordan's): `lr·√max(1, A/B)`; also what `None` does.
    Original,
    /// `"match_rms_adamw"` (Moonshot's): `lr·0.2·√max(A, B)`.
    MatchRmsAdamW,
    /// `"spectral_unclamped"` (Bernstein's): `lr·√(A/B)`.
    SpectralUnclamped,
}

impl AdjustLr {
    /// PyTorch's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            AdjustLr::Original => "original",
            AdjustLr::MatchRmsAdamW => "match_rms_adamw",
            AdjustLr::SpectralUnclamped => "spectral_unclamped",
        }
    }

    /// The variant PyTorch spells `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            AdjustLr::Original,
            AdjustLr::MatchRmsAdamW,
            AdjustLr::SpectralUnclamped,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

/// `torch.optim.Muon` hyperparameters (PyTorch's names and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Muon {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Decoupled weight decay λ, applied as `θ·(1 − lr·λ)` with the unadjusted lr (default 0.1).
    pub weight_decay: f64,
    /// Momentum μ of the buffer's exponential average (default 0.95).
    pub momentum: f64,
    /// Nesterov momentum (default true).
    pub nesterov: bool,
    /// Newton–Schulz coefficients `(a, b, c)` (default (3.4445, −4.7750, 2.0315)).
    pub ns_coefficients: (f64, f64, f64),
    /// Floor of the Frobenius norm the update is divided by (default 1e-7).
    pub eps: f64,
    /// Newton–Schulz iterations (default 5; PyTorch refuses 100 or more).
    pub ns_steps: u64,
    /// Learning-rate adjustment by shape (default `None`, which acts as
    /// [`AdjustLr::Original`]).
    pub adjust_lr_fn: Option<AdjustLr>,
}

impl Muon {
    /// `torch.optim.Muon`'s defaults.
    pub const DEFAULT: Muon = Muon {
        lr: 1e-3,
        weight_decay: 0.1,
        momentum: 0.95,
        nesterov: true,
        ns_coefficients: (3.4445, -4.7750, 2.0315),
        eps: 1e-7,
        ns_steps: 5,
        adjust_lr_fn: None,
    };

    /// State elements for a tensor of this shape: the momentum buffer, `numel`. Usable in
    /// `const` array lengths.
    #[inline]
    pub const fn state_len(&self, shape: &[usize]) -> usize {
        super::shaped::numel(shape)
    }

    /// Workspace (`f32`) elements for a matrix of this shape: `2·r·c + 2·r²` with `r = min(A,
    /// B)`, `c = max(A, B)` (0 for a shape that is not 2-D). Saturates on overflow.
    #[inline]
    pub const fn workspace_len(&self, shape: &[usize]) -> usize {
        if shape.len() != 2 {
            return 0;
        }
        let (r, c) = if shape[0] <= shape[1] {
            (shape[0], shape[1])
        } else {
            (shape[1], shape[0])
        };
        let rc = r.saturating_mul(c);
        let rr = r.saturating_mul(r);
        rc.saturating_add(rr).saturating_mul(2)
    }

    /// `_adjust_lr(lr, adjust_lr_fn, (rows, cols))`, in f64 as Python computes it.
    #[inline]
    pub fn adjusted_lr(&self, rows: usize, cols: usize) -> f64 {
        let (a, b) = (rows as f64, cols as f64);
        let ratio = match self.adjust_lr_fn {
            None | Some(AdjustLr::Original) => {
                let q = a / b;
                sqrt_f64(if q > 1.0 { q } else { 1.0 }) // math.sqrt(max(1, A / B))
            }
            Some(AdjustLr::MatchRmsAdamW) => 0.2 * sqrt_f64(if a > b { a } else { b }),
            Some(AdjustLr::SpectralUnclamped) => sqrt_f64(a / b),
        };
        self.lr * ratio
    }
}

impl Default for Muon {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Columns and inner-dimension rows of one cache block of the right-hand matrix: a 32 × 256 f32
/// panel (32 KiB) stays in L1/L2 while every row of the left-hand matrix streams past it.
const NB: usize = 256;
const KB: usize = 32;

/// `y ← y + a·x` elementwise (two roundings per element), lanes `W` then a scalar tail.
#[inline(always)]
fn axpy<W: Lanes<Scalar = f32>>(y: &mut [f32], a: f32, x: &[f32]) {
    let av = W::splat(a);
    let mut j = 0;
    while j + W::WIDTH <= y.len() && j + W::WIDTH <= x.len() {
        (W::load(&y[j..]) + av * W::load(&x[j..])).store(&mut y[j..]);
        j += W::WIDTH;
    }
    for (y, &x) in y[j..].iter_mut().zip(&x[j..]) {
        *y += a * x;
    }
}

/// `c = a·b` for row-major `a` (m × k), `b` (k × n) and `c` (m × n), in f32. Each `c[i][j]`
/// starts at 0 and adds `a[i][l]·b[l][j]` for `l = 0, 1, …, k−1` in that order, whatever the
/// blocking and the lane width `W`.
fn matmul<W: Lanes<Scalar = f32>>(a: &[f32], b: &[f32], c: &mut [f32], k: usize, n: usize) {
    c.fill(0.0);
    if k == 0 || n == 0 {
        return;
    }
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + NB).min(n);
        let mut l0 = 0;
        while l0 < k {
            let l1 = (l0 + KB).min(k);
            for (arow, crow) in a.chunks_exact(k).zip(c.chunks_exact_mut(n)) {
                let crow = &mut crow[j0..j1];
                for (l, &ail) in arow.iter().enumerate().take(l1).skip(l0) {
                    axpy::<W>(crow, ail, &b[l * n + j0..l * n + j1]);
                }
            }
            l0 = l1;
        }
        j0 = j1;
    }
}

/// `dst = srcᵀ` for a row-major `src` of `rows × cols`, in 32 × 32 tiles.
fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    const T: usize = 32;
    let mut i0 = 0;
    while i0 < rows {
        let i1 = (i0 + T).min(rows);
        let mut j0 = 0;
        while j0 < cols {
            let j1 = (j0 + T).min(cols);
            for i in i0..i1 {
                for j in j0..j1 {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
            j0 = j1;
        }
        i0 = i1;
    }
}

/// Rounds every lane to bf16 (nearest, ties to even; NaN stays NaN), as f32.
#[inline(always)]
fn round_bf16<W: Lanes<Scalar = f32>>(v: W) -> W {
    let mut b = [half::bf16::ZERO; BLOCK];
    v.store_bf16(&mut b);
    W::load_bf16(&b)
}

/// A compute value rounded to bf16 as PyTorch's `.to(torch.bfloat16)` does (f64 through f32).
#[inline(always)]
fn to_bf16<C: Element>(x: C) -> f32 {
    bf16_to_f32(f32_to_bf16(x.to_f64() as f32))
}

/// `dst ← bf16(α·x + β·dst)` (one `addmm` epilogue: f32 products and sum, one bf16 rounding).
fn axpby_bf16<W: Lanes<Scalar = f32>>(dst: &mut [f32], alpha: f32, x: &[f32], beta: f32) {
    let (av, bv) = (W::splat(alpha), W::splat(beta));
    let mut j = 0;
    while j + W::WIDTH <= dst.len() && j + W::WIDTH <= x.len() {
        let v = av * W::load(&x[j..]) + bv * W::load(&dst[j..]);
        round_bf16(v).store(&mut dst[j..]);
        j += W::WIDTH;
    }
    for (d, &x) in dst[j..].iter_mut().zip(&x[j..]) {
        *d = round_bf16(alpha * x + beta * *d);
    }
}

/// `dst ← bf16(dst)`.
fn round_all<W: Lanes<Scalar = f32>>(dst: &mut [f32]) {
    let mut j = 0;
    while j + W::WIDTH <= dst.len() {
        round_bf16(W::load(&dst[j..])).store(&mut dst[j..]);
        j += W::WIDTH;
    }
    for d in &mut dst[j..] {
        *d = round_bf16(*d);
    }
}

/// `lerp(a, b, w)` with the formula chosen once per step.
#[inline(always)]
fn lerp<C: Real, V: Lanes<Scalar = C>>(l: &Lerp<C>, a: V, b: V) -> V {
    if l.small {
        l.apply::<V, true>(a, b)
    } else {
        l.apply::<V, false>(a, b)
    }
}

impl Muon {
    /// `X ← X / bf16(max(bf16(‖X‖_F), eps))`, each quotient rounded to bf16. The norm sums the
    /// squares in f64, in order.
    fn normalize(&self, x: &mut [f32]) {
        let sum = x
            .iter()
            .fold(0.0f64, |s, &v| s + f64::from(v) * f64::from(v));
        let norm = round_bf16(sqrt_f64(sum) as f32);
        let denom = round_bf16(norm.max_nan(self.eps as f32));
        for v in x {
            *v = round_bf16(*v / denom);
        }
    }

    /// `ns_steps` Newton–Schulz iterations on `x` (r × c) with `xt = xᵀ` (c × r); `m`, `n` are
    /// r × r scratch. Leaves the result in `x` and its transpose in `xt`.
    #[allow(clippy::too_many_arguments)]
    fn newton_schulz<'a, W: Lanes<Scalar = f32>>(
        &self,
        mut x: &'a mut [f32],
        mut xt: &'a mut [f32],
        m: &mut [f32],
        nn: &mut [f32],
        r: usize,
        c: usize,
    ) {
        let (a, b, cc) = self.ns_coefficients;
        let (a, b, cc) = (a as f32, b as f32, cc as f32);
        for _ in 0..self.ns_steps {
            matmul::<W>(x, xt, m, c, r); //                      gram = X @ X.T
            round_all::<W>(m);
            matmul::<W>(m, m, nn, r, r); //                      addmm(gram, gram, gram, beta=b, alpha=c)
            axpby_bf16::<W>(nn, b, m, cc);
            matmul::<W>(nn, x, xt, r, c); //                     addmm(X, update, X, beta=a)
            axpby_bf16::<W>(xt, a, x, 1.0);
            transpose(xt, x, r, c); //                           keep Xᵀ for the next X @ X.T
            core::mem::swap(&mut x, &mut xt);
        }
    }
}

impl ShapedRule for Muon {
    type Work = f32;

    name_slots_lr!("Muon");

    fn validate(&self) -> Result<(), Error> {
        non_negative!("lr", self.lr)?;
        let wd = self.weight_decay;
        non_negative!("weight_decay", wd)?;
        let mu = self.momentum;
        non_negative!("momentum", mu)?;
        let (a, b, c) = self.ns_coefficients;
        check("ns_coefficients[0]", a, a.is_finite(), "a finite number")?;
        check("ns_coefficients[1]", b, b.is_finite(), "a finite number")?;
        check("ns_coefficients[2]", c, c.is_finite(), "a finite number")?;
        non_negative!("eps", self.eps)?;
        check(
            "ns_steps",
            self.ns_steps as f64,
            self.ns_steps < 100,
            "ns_steps < 100 (torch.optim.Muon raises ValueError at the first step)",
        )
    }

    #[inline]
    fn check_shape(&self, shape: &[usize]) -> Result<(), &'static str> {
        if shape.len() != 2 {
            return Err(
                "Muon only supports 2-D parameters (torch.optim.Muon raises ValueError); \
                        optimize biases and other non-matrix tensors with another optimizer",
            );
        }
        Ok(())
    }

    #[inline]
    fn state_len(&self, shape: &[usize]) -> usize {
        Muon::state_len(self, shape)
    }

    #[inline]
    fn workspace_len(&self, shape: &[usize]) -> usize {
        Muon::workspace_len(self, shape)
    }

    fn update_with<P, S, V, W>(
        &self,
        _step: u64,
        shape: &[usize],
        p: &mut [P],
        g: &[P],
        state: &mut [S],
        work: &mut [f32],
    ) where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
        W: Lanes<Scalar = f32>,
    {
        let &[rows, cols] = shape else {
            return;
        };
        let numel = p.len();
        if numel == 0 {
            return;
        }
        let transposed = rows > cols;
        let (r, c) = if transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let Some(work) = work.get_mut(..Muon::workspace_len(self, shape)) else {
            return;
        };
        let (x, rest) = work.split_at_mut(r * c);
        let (xt, rest) = rest.split_at_mut(r * c);
        let (m, nn) = rest.split_at_mut(r * r);
        // The update in the parameter's layout (rows × cols, row-major) is X when rows <= cols,
        // else Xᵀ.
        let (u, other) = if transposed {
            (&mut *xt, &mut *x)
        } else {
            (&mut *x, &mut *xt)
        };
        let ema = Lerp::<P::Compute>::new(1.0 - self.momentum); // buf.lerp_(grad, 1 - momentum)
        let nesterov = Lerp::<P::Compute>::new(self.momentum); // grad.lerp(buf, momentum)
        let mut buf = [<P::Compute>::default(); BLOCK];
        let blocks = p.len().div_ceil(BLOCK);
        for k in 0..blocks {
            let (i0, i1) = (k * BLOCK, ((k + 1) * BLOCK).min(numel));
            let (g, s) = (&g[i0..i1], &mut state[i0..i1]);
            let mut j = 0;
            while j + V::WIDTH <= g.len() {
                let gv = P::load::<V>(&g[j..]);
                let b = lerp(&ema, S::load::<V>(&s[j..]), gv);
                S::store(b, &mut s[j..]);
                let up = if self.nesterov {
                    lerp(&nesterov, gv, b)
                } else {
                    b
                };
                up.store(&mut buf[j..]);
                j += V::WIDTH;
            }
            for ((gi, si), o) in g[j..].iter().zip(&mut s[j..]).zip(&mut buf[j..]) {
                let gi = gi.to_compute();
                let b = lerp(&ema, si.to_compute(), gi);
                *si = S::from_compute(b);
                *o = if self.nesterov {
                    lerp(&nesterov, gi, b)
                } else {
                    b
                };
            }
            for (d, &v) in u[i0..i1].iter_mut().zip(&buf) {
                *d = to_bf16(v);
            }
        }
        self.normalize(u);
        if transposed {
            transpose(u, other, c, r);
        } else {
            transpose(u, other, r, c);
        }
        self.newton_schulz::<W>(x, xt, m, nn, r, c);
        // ns_steps swaps: after an odd number, X is in the `xt` buffer.
        let (xr, xtr) = if self.ns_steps.is_multiple_of(2) {
            (&*x, &*xt)
        } else {
            (&*xt, &*x)
        };
        let o = if transposed { xtr } else { xr };
        let decay = <P::Compute>::from_f64(1.0 - self.lr * self.weight_decay);
        let step = <P::Compute>::from_f64(-self.adjusted_lr(rows, cols));
        for k in 0..blocks {
            let (i0, i1) = (k * BLOCK, ((k + 1) * BLOCK).min(numel));
            for (b, &v) in buf.iter_mut().zip(&o[i0..i1]) {
                *b = <P::Compute>::from_f64(f64::from(v));
            }
            let p = &mut p[i0..i1];
            let mut j = 0;
            while j + V::WIDTH <= p.len() {
                let v =
                    P::load::<V>(&p[j..]) * V::splat(decay) + V::splat(step) * V::load(&buf[j..]);
                P::store(v, &mut p[j..]);
                j += V::WIDTH;
            }
            for (x, &o) in p[j..].iter_mut().zip(&buf[j..]) {
                *x = P::from_compute(x.to_compute() * decay + step * o);
            }
        }
    }
}

#[cfg(feature = "alloc")]
impl crate::config::Field for Option<AdjustLr> {
    fn from_value(v: &crate::Value, key: &str) -> Result<Self, Error> {
        match v {
            crate::Value::None => Ok(None),
            crate::Value::Str(s) => AdjustLr::from_name(s).map(Some).ok_or_else(|| {
                Error::InvalidType {
                    key: alloc::string::ToString::to_string(key),
                    expected: "None, \"original\", \"match_rms_adamw\" or \"spectral_unclamped\"",
                    group: None,
                }
            }),
            _ => Err(Error::InvalidType {
                key: alloc::string::ToString::to_string(key),
                expected: "None, \"original\", \"match_rms_adamw\" or \"spectral_unclamped\"",
                group: None,
            }),
        }
    }
    fn to_value(&self) -> crate::Value {
        self.map_or(crate::Value::None, |a| crate::Value::Str(a.as_str().into()))
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(
    Muon,
    [
        lr,
        weight_decay,
        momentum,
        nesterov,
        ns_coefficients,
        eps,
        ns_steps,
        adjust_lr_fn
    ]
);
