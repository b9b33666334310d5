//! SparseAdam: Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization") masked to
//! the entries present in a sparse gradient, with `maximize`.
//!
//! Matches `torch.optim.SparseAdam` (PyTorch 2.15, `torch/optim/sparse_adam.py`, arithmetic in
//! `torch/optim/_functional.py:24-80`). For every entry present in the (coalesced) gradient:
//!
//! ```text
//! g ← −g                                 if maximize (before coalescing: −0 is still zero)
//! Δm = (g − m)·(1 − β₁);   m ← m + Δm     grad_values.sub(old_m).mul_(1 - beta1); exp_avg.add_(Δm)
//! Δv = (g·g − v)·(1 − β₂); v ← v + Δv     grad_values.pow(2).sub_(old_v).mul_(1 - beta2); .add_(Δv)
//! θ ← θ + (−lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ))·(m / (√v + ε))
//! ```
//!
//! Entries absent from the gradient keep `θ`, `m` and `v` unchanged. torch computes the numerator
//! as `Δm + old_m` and the denominator from `Δv + old_v`: IEEE addition is commutative, so these
//! are the new `m` and `v` bit for bit, and they are computed once. The step size is computed in
//! f64 as Python computes it (`lr * math.sqrt(bc2) / bc1`, `beta ** step` as `pow`) and rounded
//! once; ε is not bias-corrected (torch's "ε-hat" form). `t` is the tensor's own step count: it
//! advances for every tensor that has a gradient, also when that gradient has no entries (torch
//! then skips the update but counts the step).
//!
//! Two gradient forms:
//! - **Dense** ([`Rule::step`], the optimizer's `step`): an entry that is exactly `0` (`+0` or
//!   `−0`) is absent, as after PyTorch's `to_sparse()`; NaN is present. The kernel selects per
//!   lane (no branch), so the SIMD and scalar paths agree bit for bit.
//! - **Row-sparse** ([`SparseAdam::step_rows`], `Optimizer::step_sparse`): what an
//!   `nn.Embedding(sparse=True)` backward produces, a list of rows of the tensor's first dimension
//!   with their values. Every given entry is present, explicit zeros included; duplicate rows are
//!   summed (torch's `coalesce()`); the work is proportional to the rows given.
//!
//! State slots: `exp_avg`, `exp_avg_sq`, both starting at zero.

use crate::drive::{Body, run_with};
use crate::element::{BLOCK, Element};
use crate::error::{Error, check, unit_interval};
use crate::lanes::{Lanes, Real};
use crate::math::{pow_f64, sqrt_f64};
use crate::rules::{Rule, Visit, name_slots_lr};

/// `torch.optim.SparseAdam` hyperparameters (PyTorch's names and defaults).
///
/// # Examples
/// A row-sparse gradient of a `[4, 3]` embedding table: rows 1 and 3 (row 1 twice, summed).
/// ```
/// use optim_kernels::rules::SparseAdam;
/// let opt = SparseAdam { lr: 1e-2, ..SparseAdam::DEFAULT };
/// let mut table = [0.5f32; 12];
/// let mut state = [0.0f32; SparseAdam::DEFAULT.state_len(12)]; // exp_avg | exp_avg_sq
/// let mut step = 0u64;
/// let rows = [1, 1, 3];
/// let values = [0.1f32, 0.2, 0.3, 0.1, 0.0, 0.0, -1.0, 1.0, 0.5];
/// opt.step_rows(&mut step, &[4, 3], &mut table, &rows, &values, &mut state)?;
/// assert_eq!(step, 1);
/// assert_eq!(table[..3], [0.5; 3]); // row 0 has no gradient: unchanged
/// assert!(table[3] < 0.5 && table[9] > 0.5);
/// # Ok::<(), optim_kernels::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SparseAdam {
    /// Learning rate (default 1e-3; must be > 0).
    pub lr: f64,
    /// Coefficients (β₁, β₂) of the running averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Term added to `√v` (default 1e-8; must be > 0).
    pub eps: f64,
    /// Maximize the objective instead of minimizing (default false).
    pub maximize: bool,
}

impl SparseAdam {
    /// `torch.optim.SparseAdam`'s defaults.
    pub const DEFAULT: SparseAdam = SparseAdam {
        lr: 1e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        maximize: false,
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

    /// One update of one tensor from a row-sparse gradient (PyTorch's `sparse_coo_tensor` with
    /// `sparse_dim = 1`, as `nn.Embedding(sparse=True)` produces): advances `step` (saturating)
    /// and updates the given rows of `p` and `state`.
    ///
    /// `shape` is the tensor's shape: a row is `numel / shape[0]` elements (the other
    /// dimensions); a 1-D tensor's rows are its elements, a 0-D tensor has the one row 0.
    /// `values` holds `rows.len()` rows one after the other. `rows` must be sorted ascending;
    /// repeated rows (adjacent) are summed in order, as torch's `coalesce()` sums them, rounding
    /// each sum to `P`. Every given entry is present, explicit zeros included; an empty `rows`
    /// counts the step and changes nothing else (as torch's skipped update of an empty gradient).
    ///
    /// Allocation-free and `no_std`; the work is proportional to the rows given.
    ///
    /// # Errors
    /// Nothing is written then:
    /// - [`Error::ShapeMismatch`] (tensor 0) if `p` does not hold `shape`'s elements, `state`
    ///   is not `2 × p.len()` or `values` is not `rows.len()` rows;
    /// - [`Error::InvalidSparseRows`] (tensor 0) naming the first row index that is out of range
    ///   or smaller than the one before it.
    #[inline]
    pub fn step_rows<P, S>(
        &self,
        step: &mut u64,
        shape: &[usize],
        p: &mut [P],
        rows: &[usize],
        values: &[P],
        state: &mut [S],
    ) -> Result<(), Error>
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        let row_len = check_rows(0, shape, p.len(), rows, values.len(), state.len())?;
        *step = step.saturating_add(1);
        self.update_rows_with::<P, S, <P::Compute as Real>::Vector>(
            *step, row_len, p, rows, values, state,
        );
        Ok(())
    }

    /// The row-sparse update with lane type `V`; the lengths and rows are valid
    /// (as `step_rows` checks them) and `step` already counts this update.
    #[doc(hidden)]
    #[inline]
    pub fn update_rows_with<P, S, V>(
        &self,
        step: u64,
        row_len: usize,
        p: &mut [P],
        rows: &[usize],
        values: &[P],
        state: &mut [S],
    ) where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
    {
        if row_len == 0 || rows.is_empty() {
            return;
        }
        let kernel = Kernel::<P::Compute, true>(Coeffs::new(self, step));
        let n = p.len();
        let (m, v) = state.split_at_mut(n.min(state.len()));
        let mut i = 0;
        while let Some(&r) = rows.get(i) {
            // rows[i..j] are the same row: torch's coalesce() sums them.
            let j = rows.get(i..).map_or(i + 1, |rest| {
                i + rest.iter().take_while(|&&x| x == r).count()
            });
            let span = r * row_len..(r + 1) * row_len;
            let (Some(pr), Some(mr), Some(vr)) = (
                p.get_mut(span.clone()),
                m.get_mut(span.clone()),
                v.get_mut(span),
            ) else {
                return; // unreachable after check_rows
            };
            let Some(vals) = values.get(i * row_len..j * row_len) else {
                return;
            };
            if j == i + 1 {
                run_with::<P, S, _, V, 0, 2>(&kernel, pr, vals, [], [mr, vr]);
            } else {
                run_summed::<P, S, V>(&kernel, row_len, pr, vals, mr, vr);
            }
            i = j;
        }
    }
}

/// Elements summed per pass for a repeated row (a stack buffer; a multiple of the block).
const SUM_CHUNK: usize = 4 * BLOCK;

/// One row updated from the sum of several value rows (`vals` holds them one after another),
/// chunk by chunk through a stack buffer: each element summed in order, rounded to `P` after
/// every addition (torch's `coalesce()` adds in the tensor's dtype; for `f16`/`bf16` an f32 sum
/// rounded once to the half type is that half-precision sum, since f32 has more than twice the
/// precision plus two bits).
#[inline]
fn run_summed<P, S, V>(
    kernel: &Kernel<P::Compute, true>,
    row_len: usize,
    pr: &mut [P],
    vals: &[P],
    mr: &mut [S],
    vr: &mut [S],
) where
    P: Element,
    S: Element<Compute = P::Compute>,
    V: Lanes<Scalar = P::Compute>,
{
    let mut buf = [P::default(); SUM_CHUNK];
    let mut off = 0;
    while off < row_len {
        let len = SUM_CHUNK.min(row_len - off);
        for (k, slot) in buf.iter_mut().take(len).enumerate() {
            let mut dups = vals.iter().skip(off + k).step_by(row_len);
            let Some(&first) = dups.next() else { return };
            *slot = dups.fold(first, |acc, &x| {
                P::from_compute(acc.to_compute() + x.to_compute())
            });
        }
        let span = off..off + len;
        let (Some(p), Some(m), Some(v), Some(g)) = (
            pr.get_mut(span.clone()),
            mr.get_mut(span.clone()),
            vr.get_mut(span),
            buf.get(..len),
        ) else {
            return;
        };
        run_with::<P, S, _, V, 0, 2>(kernel, p, g, [], [m, v]);
        off += len;
    }
}

/// Rows and elements per row of a tensor of this shape as a `sparse_dim = 1` gradient indexes
/// it: `(shape[0], product of the rest)`; a 0-D tensor is one row of one element. `None` if the
/// element count overflows.
#[inline]
pub(crate) fn row_layout(shape: &[usize]) -> Option<(usize, usize)> {
    let rows = shape.first().copied().unwrap_or(1);
    let row_len = shape
        .iter()
        .skip(1)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    rows.checked_mul(row_len)?;
    Some((rows, row_len))
}

/// Every check of a row-sparse update of tensor `tensor`, before anything is written; returns
/// the row length.
#[inline]
pub(crate) fn check_rows(
    tensor: usize,
    shape: &[usize],
    p: usize,
    rows: &[usize],
    values: usize,
    state: usize,
) -> Result<usize, Error> {
    let (nrows, row_len) = row_layout(shape).ok_or(Error::ShapeMismatch {
        tensor,
        what: "param",
        expected: usize::MAX,
        found: p,
    })?;
    let numel = nrows * row_len; // no overflow: checked by row_layout
    if p != numel {
        return Err(Error::ShapeMismatch {
            tensor,
            what: "param",
            expected: numel,
            found: p,
        });
    }
    if state != 2 * p {
        return Err(Error::ShapeMismatch {
            tensor,
            what: "state",
            expected: 2 * p,
            found: state,
        });
    }
    let expected = rows.len().saturating_mul(row_len);
    if values != expected {
        return Err(Error::ShapeMismatch {
            tensor,
            what: "sparse values",
            expected,
            found: values,
        });
    }
    let mut prev = 0;
    for (position, &row) in rows.iter().enumerate() {
        if row >= nrows {
            return Err(Error::InvalidSparseRows {
                tensor,
                position,
                row,
                reason: "row index out of range",
            });
        }
        if row < prev {
            return Err(Error::InvalidSparseRows {
                tensor,
                position,
                row,
                reason: "rows must be sorted ascending (repeated rows adjacent)",
            });
        }
        prev = row;
    }
    Ok(row_len)
}

impl Default for SparseAdam {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Per-step scalars, computed in f64 and rounded once.
#[derive(Clone, Copy, Debug)]
struct Coeffs<C> {
    grad_sign: C,
    one_minus_beta1: C,
    one_minus_beta2: C,
    eps: C,
    /// `−lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)`.
    neg_step_size: C,
}

impl<C: Real> Coeffs<C> {
    #[inline]
    fn new(h: &SparseAdam, step: u64) -> Self {
        let (beta1, beta2) = h.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - pow_f64(beta1, t);
        let bias_correction2 = 1.0 - pow_f64(beta2, t);
        let step_size = h.lr * sqrt_f64(bias_correction2) / bias_correction1;
        Coeffs {
            grad_sign: C::from_f64(if h.maximize { -1.0 } else { 1.0 }),
            one_minus_beta1: C::from_f64(1.0 - beta1),
            one_minus_beta2: C::from_f64(1.0 - beta2),
            eps: C::from_f64(h.eps),
            neg_step_size: C::from_f64(-step_size),
        }
    }
}

/// The body. `ALL_PRESENT`: every entry is present (row-sparse values); otherwise an entry whose
/// gradient is `±0` is absent and keeps `θ`, `m`, `v` (a lane select, no branch).
struct Kernel<C, const ALL_PRESENT: bool>(Coeffs<C>);

impl<C: Real, const ALL_PRESENT: bool> Body<C, 2> for Kernel<C, ALL_PRESENT> {
    #[inline(always)]
    fn apply<V: Lanes<Scalar = C>>(&self, p: V, g: V, [m, v]: &mut [V; 2]) -> V {
        let c = &self.0;
        let k = V::splat;
        let g = g * k(c.grad_sign); //                       grad = -grad (exact)
        // An absent entry (g = ±0, dense gradients only) keeps θ, m, v: its increments are
        // replaced by −0, and x + (−0) = x for every x (also −0 and NaN). Selecting the increment,
        // not the old value, matters for speed: LLVM turns `store(select(c, load p, x), p)` into
        // a masked store (`vmaskmovps`), which is microcoded and ~3x slower than this whole
        // kernel on AMD Zen.
        let keep = |d: V| {
            if ALL_PRESENT {
                d
            } else {
                g.if_eq(V::splat(C::zero()), V::splat(-C::zero()), d)
            }
        };
        let m_new = *m + keep((g - *m) * k(c.one_minus_beta1)); // old_m + Δm == numer (Δm + old_m)
        let v_new = *v + keep((g * g - *v) * k(c.one_minus_beta2)); // old_v + Δv == Δv + old_v
        let denom = v_new.root() + k(c.eps); //              .sqrt_().add_(eps)
        *m = m_new;
        *v = v_new;
        p + keep(k(c.neg_step_size) * (m_new / denom)) //  param.add_(-step_size * numer.div_(denom))
    }
}

impl Rule for SparseAdam {
    name_slots_lr!("SparseAdam", |_| 2);

    /// torch's checks (`sparse_adam.py:24-33`), in its order: `0 < lr`, `0 < eps`, then each
    /// beta in `[0, 1)`; infinities are refused too.
    fn validate(&self) -> Result<(), Error> {
        check(
            "lr",
            self.lr,
            self.lr > 0.0 && self.lr.is_finite(),
            "0 < lr < inf",
        )?;
        check(
            "eps",
            self.eps,
            self.eps > 0.0 && self.eps.is_finite(),
            "0 < eps < inf",
        )?;
        let (b1, b2) = self.betas;
        unit_interval!("betas[0]", b1)?;
        unit_interval!("betas[1]", b2)
    }

    type Schedule = ();
    type Scalars = ();
    type TensorState = ();
    #[inline]
    fn begin_step(&self, _: &mut ()) {}

    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        f.visit::<_, 2>(&Kernel::<C, false>(Coeffs::new(self, step)));
    }
}

#[cfg(feature = "alloc")]
crate::config::hyper_keys!(SparseAdam, [lr, betas, eps, maximize]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_rows_refuses_bad_rows_and_lengths_before_writing() {
        let h = SparseAdam::DEFAULT;
        let shape = [4, 3];
        let p0 = [0.25f32; 12];
        let vals = [1.0f32; 6];
        let cases: [(&[usize], &[f32], &[usize]); 5] = [
            (&[2, 1], &vals, &shape),      // unsorted
            (&[1, 4], &vals, &shape),      // out of range
            (&[0, 1], &vals[..5], &shape), // values not 2 rows
            (&[0, 1], &vals, &[3, 4]),     // rows of 4 elements: values are not 2 rows
            (&[0, 1], &vals, &[13]),       // p is not the shape's size
        ];
        let expected = [
            Error::InvalidSparseRows {
                tensor: 0,
                position: 1,
                row: 1,
                reason: "rows must be sorted ascending (repeated rows adjacent)",
            },
            Error::InvalidSparseRows {
                tensor: 0,
                position: 1,
                row: 4,
                reason: "row index out of range",
            },
            Error::ShapeMismatch {
                tensor: 0,
                what: "sparse values",
                expected: 6,
                found: 5,
            },
            Error::ShapeMismatch {
                tensor: 0,
                what: "sparse values",
                expected: 8,
                found: 6,
            },
            Error::ShapeMismatch {
                tensor: 0,
                what: "param",
                expected: 13,
                found: 12,
            },
        ];
        for ((rows, values, shape), want) in cases.iter().zip(expected) {
            let (mut p, mut state, mut step) = (p0, [0.5f32; 24], 7u64);
            let err = h
                .step_rows(&mut step, shape, &mut p, rows, values, &mut state)
                .unwrap_err();
            assert_eq!(err, want);
            assert_eq!((p, state, step), (p0, [0.5; 24], 7), "nothing written");
        }
        let mut short_state = [0.0f32; 23];
        let mut p = p0;
        assert!(matches!(
            h.step_rows(&mut 0, &shape, &mut p, &[0], &vals[..3], &mut short_state),
            Err(Error::ShapeMismatch { what: "state", .. })
        ));
    }

    #[test]
    fn rows_of_0d_and_1d_tensors_are_elements_and_empty_rows_count_the_step() {
        let h = SparseAdam::DEFAULT;
        // 0-D: one row of one element; row 1 does not exist.
        let (mut p, mut s, mut t) = ([1.0f64], [0.0f64; 2], 0);
        h.step_rows(&mut t, &[], &mut p, &[0], &[0.5], &mut s)
            .unwrap();
        assert!(p[0] < 1.0 && t == 1);
        assert!(
            h.step_rows(&mut t, &[], &mut p, &[1], &[0.5], &mut s)
                .is_err()
        );
        // 1-D: rows are elements; an explicit zero is present (m and v decay, p does not move
        // when m and v start at zero).
        let (mut p, mut s, mut t) = ([1.0f64; 5], [0.0f64; 10], 0);
        h.step_rows(&mut t, &[5], &mut p, &[1, 3], &[0.0, -2.0], &mut s)
            .unwrap();
        assert_eq!(p[..3], [1.0; 3]);
        assert!(p[3] > 1.0);
        // An empty gradient counts the step and changes nothing else.
        let (p_before, s_before) = (p, s);
        h.step_rows(&mut t, &[5], &mut p, &[], &[], &mut s).unwrap();
        assert_eq!((p, s, t), (p_before, s_before, 2));
        // A dense gradient of ±0 is absent: the step counts, nothing moves.
        h.step(&mut t, &mut p, &[0.0, -0.0, 0.0, -0.0, 0.0], &mut s)
            .unwrap();
        assert_eq!((p, s, t), (p_before, s_before, 3));
    }
}
