//! L-BFGS (Liu & Nocedal 1989), closure-driven, as `torch.optim.LBFGS`.
//!
//! Matches PyTorch 2.15 `LBFGS.step`, `_strong_wolfe` and `_cubic_interpolate`
//! (`torch/optim/lbfgs.py`). Unlike every other rule, one step re-evaluates the objective: the
//! caller passes a closure that recomputes the loss and writes the gradients (torch's closure
//! calling `backward()`), and a step runs up to `max_iter` iterations and `max_eval` closure
//! calls. The algorithm works on the flattened concatenation `x` of all parameter tensors
//! (`_gather_flat_grad`, `_add_grad`), with `g = ∇f(x)` (negated, and `f` negated, if
//! `maximize`):
//!
//! ```text
//! first iteration ever:  d ← −g,  t ← min(1, 1/‖g‖₁)·lr,  history cleared, H ← 1
//! later iterations:      y ← g − g_prev,  s ← t·d,  if y·s > 1e-10: push (y, s, ρ = 1/y·s)
//!                        (dropping the oldest pair beyond history_size), H ← y·s / y·y
//!                        d ← two-loop recursion: q ← −g; for i newest→oldest:
//!                            αᵢ ← ρᵢ·sᵢ·q, q ← q − αᵢ·yᵢ
//!                          d ← H·q; for i oldest→newest: βᵢ ← ρᵢ·yᵢ·d, d ← d + (αᵢ − βᵢ)·sᵢ
//!                        t ← lr
//! stop if g·d > −tolerance_change
//! line_search_fn None:   x ← x + t·d, then re-evaluate f and g (except on the last iteration)
//! "strong_wolfe":        t from the strong-Wolfe line search (c₁ = 1e-4, c₂ = 0.9, at most
//!                        max_eval − evaluations so far trials), then x ← x + t·d
//! stop after max_iter iterations or max_eval evaluations, or if ‖g‖_∞ ≤ tolerance_grad,
//!   ‖t·d‖_∞ ≤ tolerance_change or |f − f_prev| < tolerance_change
//! ```
//!
//! A step starts by evaluating the closure once and returns that loss (torch's `orig_loss`); it
//! stops at once if `‖g‖_∞ ≤ tolerance_grad` then. State carries over between steps as in torch
//! (`d`, `t`, the history, `H`, the previous gradient and the counters).
//!
//! # Numerics
//!
//! Vectors are in the compute type `C` (`f32` for `f32`/`f16`/`bf16` parameters, `f64` for
//! `f64`). PyTorch keeps the scalars of the algorithm as a mix of Python floats (f64: losses,
//! `lr`, the constants, some step sizes) and 0-d tensors of the parameter dtype (dot products,
//! norms, and whatever is computed from them); the branches compare them, so the same mix is
//! reproduced here: every scalar remembers whether it is a "tensor", an operation with a tensor
//! operand rounds both operands to `C` and its result to `C` (as a 0-d tensor op computes), and
//! float-only operations stay in f64. In f64 this is plain f64 arithmetic in torch's order of
//! operations. Differences from torch that remain: dot products and sums accumulate in f64 in
//! index order (torch's BLAS order differs), no fused multiply-add (torch's `add_(…, alpha=…)`
//! fuses on AVX2), a correctly rounded square root (torch's f32 `sqrt` is MKL VML's, ±1 ulp), and
//! half-precision parameters are updated in f32 and rounded once (torch computes `p + t·d` in the
//! parameter dtype).
//!
//! # Memory
//!
//! One caller-provided buffer of `C` ([`Lbfgs::state_len`]) holds, for `n` parameters in all and
//! `h = history_size`: `d`, the previous and the current flat gradient (`3n`), the ring buffers
//! of `y` and `s` (`2hn`), `ρ` and `α` (`2h`), and, with the line search, the parameters at the
//! start of the search and three gradient slots for the trials (`4n`). The scalars live in
//! [`LbfgsState`]. Nothing is allocated.

use crate::element::Element;
use crate::error::{Error, check};
use crate::lanes::Real;
use crate::math::sqrt_f64;
use core::marker::PhantomData;
use core::ops::{Add, Div, Mul, Neg, Sub};

/// `torch.optim.LBFGS`'s `line_search_fn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineSearch {
    /// `None`: a fixed step `t = lr` (the first iteration ever: `min(1, 1/‖g‖₁)·lr`).
    None,
    /// `"strong_wolfe"`: a line search satisfying the strong Wolfe conditions.
    StrongWolfe,
}

impl LineSearch {
    /// PyTorch's spelling (`None` for [`LineSearch::None`]).
    pub const fn as_str(self) -> Option<&'static str> {
        match self {
            LineSearch::None => None,
            LineSearch::StrongWolfe => Some("strong_wolfe"),
        }
    }
}

/// `torch.optim.LBFGS` hyperparameters (PyTorch's names and defaults).
///
/// # Examples
/// ```
/// use optim_kernels::rules::{Lbfgs, LbfgsState, LineSearch};
/// // f(x) = (x₀ − 1)² + 10·(x₁ + 2)², in two tensors.
/// const LBFGS: Lbfgs =
///     Lbfgs { line_search_fn: LineSearch::StrongWolfe, history_size: 5, ..Lbfgs::DEFAULT };
/// let mut buf = [0.0f64; LBFGS.state_len(2)]; // d, gradients, history, line-search scratch
/// let mut st = LbfgsState::new();
/// let mut params = [[0.0f64], [0.0]];
/// let mut grads = [[0.0f64], [0.0]];
/// let loss = LBFGS.step(&mut st, &mut buf, &mut params, &mut grads, |p, g| {
///     let (a, b) = (p[0][0] - 1.0, p[1][0] + 2.0);
///     g[0][0] = 2.0 * a;
///     g[1][0] = 20.0 * b;
///     a * a + 10.0 * b * b
/// })?;
/// assert_eq!(loss, 41.0); // the loss at the start of the step
/// assert!((params[0][0] - 1.0).abs() < 1e-6 && (params[1][0] + 2.0).abs() < 1e-6);
/// # Ok::<(), optim_kernels::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Lbfgs {
    /// Learning rate: the step length `t` without line search, the initial trial with it
    /// (default 1).
    pub lr: f64,
    /// Iterations per step (default 20).
    pub max_iter: u64,
    /// Closure evaluations per step (default `None`: `max_iter·5/4`, rounded down, as torch
    /// computes it when the optimizer is built).
    pub max_eval: Option<u64>,
    /// Stop when `‖g‖_∞ ≤ tolerance_grad` (default 1e-7).
    pub tolerance_grad: f64,
    /// Stop when the step, the directional derivative or the loss change is below this
    /// (default 1e-9).
    pub tolerance_change: f64,
    /// Number of `(y, s)` pairs kept (default 100).
    pub history_size: u64,
    /// `None` (default) or `"strong_wolfe"`.
    pub line_search_fn: LineSearch,
    /// Maximize the objective: the loss and gradient are negated (default false).
    pub maximize: bool,
}

impl Default for Lbfgs {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The scalars L-BFGS keeps between steps (torch's `state[first_param]` besides the vectors).
///
/// Start from [`LbfgsState::new`] with a zeroed buffer (the buffer's contents are not read before
/// they are written).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LbfgsState {
    /// Closure evaluations over all steps (torch's `func_evals`).
    pub func_evals: u64,
    /// Iterations over all steps (torch's `n_iter`); the first iteration ever starts the history.
    pub n_iter: u64,
    /// The last step length `t`.
    pub t: f64,
    /// The initial inverse-Hessian scale `H` (torch's `H_diag`).
    pub h_diag: f64,
    /// The loss before the last iteration's update (torch's `prev_loss`), if any.
    pub prev_loss: Option<f64>,
    /// Ring-buffer slot of the oldest `(y, s)` pair.
    pub history_head: usize,
    /// Number of `(y, s)` pairs held (at most `history_size`).
    pub history_len: usize,
}

impl LbfgsState {
    /// The state before the first step.
    pub const fn new() -> Self {
        LbfgsState {
            func_evals: 0,
            n_iter: 0,
            t: 0.0,
            h_diag: 1.0,
            prev_loss: None,
            history_head: 0,
            history_len: 0,
        }
    }
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;

/// `usize` from a `u64` count, saturating (usable in `const fn`).
const fn sat(x: u64) -> usize {
    if x > usize::MAX as u64 {
        usize::MAX
    } else {
        x as usize
    }
}

impl Lbfgs {
    /// `torch.optim.LBFGS`'s defaults.
    pub const DEFAULT: Lbfgs = Lbfgs {
        lr: 1.0,
        max_iter: 20,
        max_eval: None,
        tolerance_grad: 1e-7,
        tolerance_change: 1e-9,
        history_size: 100,
        line_search_fn: LineSearch::None,
        maximize: false,
    };

    /// The canonical name.
    pub const fn name(&self) -> &'static str {
        "LBFGS"
    }

    /// `max_eval`, or `max_iter·5/4` (rounded down) when it is `None`, as torch resolves it.
    pub const fn resolved_max_eval(&self) -> u64 {
        match self.max_eval {
            Some(m) => m,
            None => self.max_iter.saturating_mul(5) / 4,
        }
    }

    /// Buffer elements (of the compute type) for `n` parameters in all: `(3 + 2h)·n + 2h`, plus
    /// `4n` with the line search (`h = history_size`). Saturates on overflow; usable in `const`
    /// array lengths.
    pub const fn state_len(&self, n: usize) -> usize {
        let h = sat(self.history_size);
        let vectors = h
            .saturating_mul(2)
            .saturating_add(match self.line_search_fn {
                LineSearch::None => 3,
                LineSearch::StrongWolfe => 7,
            });
        vectors
            .saturating_mul(n)
            .saturating_add(h.saturating_mul(2))
    }

    /// The constructor's checks (`0 <= lr`), and more where torch would fail later, in `step`:
    /// `history_size` 0 (`pop` from an empty list) and, with the line search, `max_eval` 0 while
    /// `max_iter` is not (no trial is possible).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] or [`Error::Conflict`] naming the key.
    pub fn validate(&self) -> Result<(), Error> {
        check(
            "lr",
            self.lr,
            self.lr >= 0.0 && self.lr.is_finite(),
            "0 <= lr < inf",
        )?;
        check(
            "tolerance_grad",
            self.tolerance_grad,
            true,
            "a number (not NaN)",
        )?;
        check(
            "tolerance_change",
            self.tolerance_change,
            true,
            "a number (not NaN)",
        )?;
        if self.history_size == 0 {
            return Err(Error::InvalidValue {
                key: "history_size",
                value: 0.0,
                expected: "history_size >= 1 (torch fails in step() with 0)",
                group: None,
            });
        }
        if self.line_search_fn == LineSearch::StrongWolfe
            && self.max_iter > 0
            && self.resolved_max_eval() == 0
        {
            return Err(Error::Conflict {
                key: "max_eval",
                reason: "the strong_wolfe line search needs max_eval >= 1 (torch fails in step() \
                         with 0)",
                group: None,
            });
        }
        Ok(())
    }

    /// One `torch.optim.LBFGS.step(closure)` over the tensors `params`: returns the loss of the
    /// first closure evaluation (torch's `orig_loss`).
    ///
    /// `closure(params, grads)` must compute the loss at `params` and write the gradient of every
    /// tensor into `grads` (zeros for a tensor without one); it is called between 1 and
    /// `max_eval` times (more if `max_eval < max_iter` without line search, as in torch). `buf`
    /// holds [`state_len`](Self::state_len)`(n)` elements for `n` parameters in all; `state` and
    /// `buf` carry over between steps. Allocation-free and `no_std`.
    ///
    /// With no tensors at all, the closure is evaluated once and nothing else happens (as torch).
    ///
    /// # Errors
    /// Before anything is written or the closure is called: [`Error::InvalidValue`] or
    /// [`Error::Conflict`] ([`validate`](Self::validate)), [`Error::TensorCount`] if `grads`
    /// has another number of tensors than `params`, [`Error::ShapeMismatch`] for a gradient of
    /// another length than its parameter (`"grad"`) or a buffer of the wrong length
    /// (`"state"`, tensor 0). If the closure changes the length of a gradient,
    /// [`Error::ShapeMismatch`] and the step stops there (the parameters and state are then as
    /// that evaluation left them).
    pub fn step<P, T, G, F>(
        &self,
        state: &mut LbfgsState,
        buf: &mut [P::Compute],
        params: &mut [T],
        grads: &mut [G],
        mut closure: F,
    ) -> Result<f64, Error>
    where
        P: Element,
        T: AsRef<[P]> + AsMut<[P]>,
        G: AsRef<[P]> + AsMut<[P]>,
        F: FnMut(&[T], &mut [G]) -> f64,
    {
        self.validate()?;
        if grads.len() != params.len() {
            return Err(Error::TensorCount {
                expected: params.len(),
                found: grads.len(),
                what: "grads",
            });
        }
        let mut n = 0usize;
        for (i, (p, g)) in params.iter().zip(grads.iter()).enumerate() {
            let (pl, gl) = (p.as_ref().len(), g.as_ref().len());
            if gl != pl {
                return Err(Error::ShapeMismatch {
                    tensor: i,
                    what: "grad",
                    expected: pl,
                    found: gl,
                });
            }
            n = n.saturating_add(pl);
        }
        let need = self.state_len(n);
        if buf.len() != need || need == usize::MAX {
            return Err(Error::ShapeMismatch {
                tensor: 0,
                what: "state",
                expected: need,
                found: buf.len(),
            });
        }
        if params.is_empty() {
            return Ok(closure(params, grads));
        }
        let mut run = Run::<P, T, G, F> {
            rule: self,
            params,
            grads,
            closure: &mut closure,
            n,
            _p: PhantomData,
        };
        run.step(state, buf)
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars with PyTorch's Python-float / 0-d-tensor promotion

/// A scalar of the algorithm as torch holds it: a Python float (`tensor == false`, f64) or a
/// 0-d tensor of the compute type `C` (`v` is then exactly representable in `C`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Num<C> {
    pub(crate) v: f64,
    pub(crate) tensor: bool,
    _c: PhantomData<C>,
}

#[inline]
fn round<C: Real>(x: f64) -> f64 {
    <C as Element>::to_f64(<C as Element>::from_f64(x))
}

#[inline]
fn fabs(x: f64) -> f64 {
    f64::from_bits(x.to_bits() & !(1u64 << 63))
}

impl<C: Real> Num<C> {
    /// A Python float.
    #[inline]
    pub(crate) fn float(v: f64) -> Self {
        Num {
            v,
            tensor: false,
            _c: PhantomData,
        }
    }
    /// A 0-d tensor holding `v` rounded to `C`.
    #[inline]
    pub(crate) fn tensor(v: f64) -> Self {
        Num {
            v: round::<C>(v),
            tensor: true,
            _c: PhantomData,
        }
    }
    #[inline]
    fn binary(self, o: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        if self.tensor || o.tensor {
            Self::tensor(f(round::<C>(self.v), round::<C>(o.v)))
        } else {
            Self::float(f(self.v, o.v))
        }
    }
    /// Python's `abs(x)`.
    #[inline]
    pub(crate) fn abs(self) -> Self {
        Num {
            v: fabs(self.v),
            ..self
        }
    }
    /// `x.sqrt()` (a tensor op; correctly rounded).
    #[inline]
    pub(crate) fn sqrt(self) -> Self {
        if self.tensor {
            Self::tensor(sqrt_f64(self.v))
        } else {
            Self::float(sqrt_f64(self.v))
        }
    }
    /// The compute-type value a tensor op that takes this as a scalar argument uses.
    #[inline]
    fn c(self) -> C {
        <C as Element>::from_f64(self.v)
    }
}

impl<C: Real> Add for Num<C> {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        self.binary(o, |a, b| a + b)
    }
}
impl<C: Real> Sub for Num<C> {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        self.binary(o, |a, b| a - b)
    }
}
impl<C: Real> Mul for Num<C> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        self.binary(o, |a, b| a * b)
    }
}
impl<C: Real> Div for Num<C> {
    type Output = Self;
    #[inline]
    fn div(self, o: Self) -> Self {
        self.binary(o, |a, b| a / b)
    }
}
impl<C: Real> Neg for Num<C> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        Num { v: -self.v, ..self }
    }
}
/// Comparisons: in `C` if either side is a tensor, in f64 otherwise; NaN compares false.
impl<C: Real> PartialEq for Num<C> {
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        self.partial_cmp(o) == Some(core::cmp::Ordering::Equal)
    }
}
impl<C: Real> PartialOrd for Num<C> {
    #[inline]
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        if self.tensor || o.tensor {
            round::<C>(self.v).partial_cmp(&round::<C>(o.v))
        } else {
            self.v.partial_cmp(&o.v)
        }
    }
}

/// Python's `min(a, b)`: `b` only if `b < a`.
#[inline]
fn pmin<C: Real>(a: Num<C>, b: Num<C>) -> Num<C> {
    if b < a { b } else { a }
}

/// Python's `max(a, b)`: `b` only if `b > a`.
#[inline]
fn pmax<C: Real>(a: Num<C>, b: Num<C>) -> Num<C> {
    if b > a { b } else { a }
}

#[inline]
fn fl<C: Real>(v: f64) -> Num<C> {
    Num::float(v)
}

/// torch's `_cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds)`: the minimizer of the cubic
/// through two points with values and derivatives, clamped to `bounds` (default: the interval
/// between the points); the midpoint of the bounds when the cubic has no real critical point.
pub(crate) fn cubic_interpolate<C: Real>(
    x1: Num<C>,
    f1: Num<C>,
    g1: Num<C>,
    x2: Num<C>,
    f2: Num<C>,
    g2: Num<C>,
    bounds: Option<(Num<C>, Num<C>)>,
) -> Num<C> {
    let (xmin_bound, xmax_bound) = match bounds {
        Some(b) => b,
        None if x1 <= x2 => (x1, x2),
        None => (x2, x1),
    };
    let d1 = g1 + g2 - fl(3.0) * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2; // d1**2: torch's pow(x, 2) is x*x
    if d2_square >= fl(0.0) {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + fl(2.0) * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + fl(2.0) * d2))
        };
        pmin(pmax(min_pos, xmin_bound), xmax_bound)
    } else {
        (xmin_bound + xmax_bound) / fl(2.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Vector helpers (plain loops; the cost of a step is in the closure)

/// `Σ aᵢ·bᵢ` accumulated in f64 in index order, as a tensor (rounded to `C`).
#[inline]
fn dot<C: Real>(a: &[C], b: &[C]) -> Num<C> {
    let mut s = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        s += <C as Element>::to_f64(x) * <C as Element>::to_f64(y);
    }
    Num::tensor(s)
}

/// `max |xᵢ|` (NaN if any is NaN; 0 for an empty vector), as a tensor.
#[inline]
fn abs_max<C: Real>(xs: impl Iterator<Item = C>) -> Num<C> {
    let mut m = 0.0f64;
    for x in xs {
        let a = fabs(<C as Element>::to_f64(x));
        if !m.is_nan() && (a.is_nan() || a > m) {
            m = a;
        }
    }
    Num::tensor(m)
}

/// `y ← y + a·x` (`y.add_(x, alpha=a)`, unfused).
#[inline]
fn axpy<C: Real>(y: &mut [C], a: C, x: &[C]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = *y + a * x;
    }
}

/// Which vector a line-search gradient is in: the step's flat gradient or a trial slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vid {
    Flat,
    Slot(usize),
}

/// The buffer split into its parts.
struct Parts<'a, C> {
    d: &'a mut [C],
    prev: &'a mut [C],
    flat: &'a mut [C],
    dirs: &'a mut [C],
    stps: &'a mut [C],
    ro: &'a mut [C],
    al: &'a mut [C],
    x_init: &'a mut [C],
    slots: &'a mut [C],
}

fn split<C>(buf: &mut [C], n: usize, h: usize) -> Parts<'_, C> {
    let (d, rest) = buf.split_at_mut(n);
    let (prev, rest) = rest.split_at_mut(n);
    let (flat, rest) = rest.split_at_mut(n);
    let (dirs, rest) = rest.split_at_mut(h * n);
    let (stps, rest) = rest.split_at_mut(h * n);
    let (ro, rest) = rest.split_at_mut(h);
    let (al, rest) = rest.split_at_mut(h);
    let x_len = rest.len().min(n);
    let (x_init, slots) = rest.split_at_mut(x_len);
    Parts {
        d,
        prev,
        flat,
        dirs,
        stps,
        ro,
        al,
        x_init,
        slots,
    }
}

/// One step's borrowed world: the parameters, the gradients and the closure.
struct Run<'a, P, T, G, F> {
    rule: &'a Lbfgs,
    params: &'a mut [T],
    grads: &'a mut [G],
    closure: &'a mut F,
    n: usize,
    _p: PhantomData<fn() -> P>,
}

impl<P, T, G, F> Run<'_, P, T, G, F>
where
    P: Element,
    T: AsRef<[P]> + AsMut<[P]>,
    G: AsRef<[P]> + AsMut<[P]>,
    F: FnMut(&[T], &mut [G]) -> f64,
{
    /// `float(closure())`, negated if maximizing.
    fn evaluate(&mut self) -> f64 {
        let loss = (self.closure)(self.params, self.grads);
        if self.rule.maximize { -loss } else { loss }
    }

    /// `_gather_flat_grad()` into `out` (negated if maximizing).
    fn gather(&self, out: &mut [P::Compute]) -> Result<(), Error> {
        let mut off = 0;
        for (i, (g, p)) in self.grads.iter().zip(self.params.iter()).enumerate() {
            let (g, pl) = (g.as_ref(), p.as_ref().len());
            if g.len() != pl {
                return Err(Error::ShapeMismatch {
                    tensor: i,
                    what: "grad",
                    expected: pl,
                    found: g.len(),
                });
            }
            let dst = out.get_mut(off..off + pl).unwrap_or_default();
            for (o, &x) in dst.iter_mut().zip(g) {
                let x = x.to_compute();
                *o = if self.rule.maximize { -x } else { x };
            }
            off += pl;
        }
        Ok(())
    }

    /// `_add_grad(t, d)`: `p ← p + t·d` over the flattened parameters.
    fn add_grad(&mut self, t: Num<P::Compute>, d: &[P::Compute]) {
        let t = t.c();
        let mut off = 0;
        for p in self.params.iter_mut() {
            let p = p.as_mut();
            let src = d.get(off..off + p.len()).unwrap_or_default();
            for (x, &di) in p.iter_mut().zip(src) {
                *x = P::from_compute(x.to_compute() + t * di);
            }
            off += p.len();
        }
    }

    /// `_clone_param()` into `x`.
    fn save_params(&self, x: &mut [P::Compute]) {
        let mut off = 0;
        for p in self.params.iter() {
            let p = p.as_ref();
            let dst = x.get_mut(off..off + p.len()).unwrap_or_default();
            for (o, v) in dst.iter_mut().zip(p) {
                *o = v.to_compute();
            }
            off += p.len();
        }
    }

    /// `_set_param(x)`.
    fn restore_params(&mut self, x: &[P::Compute]) {
        let mut off = 0;
        for p in self.params.iter_mut() {
            let p = p.as_mut();
            let src = x.get(off..off + p.len()).unwrap_or_default();
            for (o, &v) in p.iter_mut().zip(src) {
                *o = P::from_compute(v);
            }
            off += p.len();
        }
    }

    fn step(&mut self, st: &mut LbfgsState, buf: &mut [P::Compute]) -> Result<f64, Error> {
        type N<C> = Num<C>;
        let rule = self.rule;
        let n = self.n;
        let h = sat(rule.history_size);
        let max_iter = rule.max_iter;
        let max_eval = rule.resolved_max_eval();
        let lr = fl::<P::Compute>(rule.lr);
        let tol_grad = fl::<P::Compute>(rule.tolerance_grad);
        let tol_change = rule.tolerance_change;
        let Parts {
            d,
            prev,
            flat,
            dirs,
            stps,
            ro,
            al,
            x_init,
            slots,
        } = split(buf, n, h);

        // evaluate initial f(x) and df/dx
        let orig_loss = (self.closure)(self.params, self.grads);
        let mut loss = if rule.maximize { -orig_loss } else { orig_loss };
        let mut current_evals = 1u64;
        st.func_evals = st.func_evals.saturating_add(1);
        self.gather(flat)?;
        let mut opt_cond = abs_max(flat.iter().copied()) <= tol_grad;
        if opt_cond {
            return Ok(orig_loss);
        }

        let mut t = N::<P::Compute>::float(st.t);
        let mut h_diag = st.h_diag;
        let mut prev_loss = st.prev_loss;
        let mut n_iter = 0u64;
        while n_iter < max_iter {
            n_iter += 1;
            st.n_iter = st.n_iter.saturating_add(1);

            // compute gradient descent direction
            if st.n_iter == 1 {
                for (d, &g) in d.iter_mut().zip(flat.iter()) {
                    *d = -g;
                }
                st.history_head = 0;
                st.history_len = 0;
                h_diag = 1.0;
            } else {
                // y = g - g_prev, s = d*t, ys = y.s (computed on the fly; stored if accepted)
                let tc = t.c();
                let mut s = 0.0f64;
                for ((&g, &pg), &di) in flat.iter().zip(prev.iter()).zip(d.iter()) {
                    let y = g - pg;
                    let sv = di * tc;
                    s += <P::Compute as Element>::to_f64(y) * <P::Compute as Element>::to_f64(sv);
                }
                let ys = N::<P::Compute>::tensor(s);
                if ys > fl(1e-10) {
                    if st.history_len == h {
                        st.history_head = (st.history_head + 1) % h;
                        st.history_len -= 1;
                    }
                    let slot = (st.history_head + st.history_len) % h;
                    st.history_len += 1;
                    let ydst = &mut dirs[slot * n..(slot + 1) * n];
                    let sdst = &mut stps[slot * n..(slot + 1) * n];
                    for ((((yo, so), &g), &pg), &di) in ydst
                        .iter_mut()
                        .zip(sdst.iter_mut())
                        .zip(flat.iter())
                        .zip(prev.iter())
                        .zip(d.iter())
                    {
                        *yo = g - pg;
                        *so = di * tc;
                    }
                    ro[slot] = (fl(1.0) / ys).c();
                    let yy = dot(ydst, ydst);
                    h_diag = (ys / yy).v;
                }
                let num_old = st.history_len;
                let phys = |i: usize| (st.history_head + i) % h;
                // q = -g (in d)
                for (q, &g) in d.iter_mut().zip(flat.iter()) {
                    *q = -g;
                }
                for i in (0..num_old).rev() {
                    let k = phys(i);
                    let rho = N::<P::Compute>::tensor(<P::Compute as Element>::to_f64(ro[k]));
                    let a = dot(&stps[k * n..(k + 1) * n], d) * rho;
                    al[i] = a.c();
                    axpy(d, (-a).c(), &dirs[k * n..(k + 1) * n]);
                }
                let hc = <P::Compute as Element>::from_f64(h_diag);
                for q in d.iter_mut() {
                    *q = *q * hc;
                }
                for (i, &a) in al.iter().enumerate().take(num_old) {
                    let k = phys(i);
                    let rho = N::<P::Compute>::tensor(<P::Compute as Element>::to_f64(ro[k]));
                    let be_i = dot(&dirs[k * n..(k + 1) * n], d) * rho;
                    let a = N::<P::Compute>::tensor(<P::Compute as Element>::to_f64(a));
                    axpy(d, (a - be_i).c(), &stps[k * n..(k + 1) * n]);
                }
            }
            prev.copy_from_slice(flat);
            prev_loss = Some(loss);

            // compute step length
            t = if st.n_iter == 1 {
                let sum: f64 = flat
                    .iter()
                    .map(|&g| fabs(<P::Compute as Element>::to_f64(g)))
                    .sum();
                pmin(fl(1.0), fl(1.0) / N::tensor(sum)) * lr
            } else {
                lr
            };

            // directional derivative
            let gtd = dot(flat, d);
            if gtd > fl(-tol_change) {
                break;
            }

            let mut ls_func_evals = 0u64;
            match rule.line_search_fn {
                LineSearch::StrongWolfe => {
                    self.save_params(x_init);
                    let max_ls = max_eval.saturating_sub(current_evals);
                    let (f_new, t_new, evals) =
                        self.strong_wolfe(x_init, slots, t, d, loss, flat, gtd, max_ls)?;
                    loss = f_new;
                    t = t_new;
                    ls_func_evals = evals;
                    self.add_grad(t, d);
                    opt_cond = abs_max(flat.iter().copied()) <= tol_grad;
                }
                LineSearch::None => {
                    self.add_grad(t, d);
                    if n_iter != max_iter {
                        loss = self.evaluate();
                        self.gather(flat)?;
                        opt_cond = abs_max(flat.iter().copied()) <= tol_grad;
                        ls_func_evals = 1;
                    }
                }
            }
            current_evals = current_evals.saturating_add(ls_func_evals);
            st.func_evals = st.func_evals.saturating_add(ls_func_evals);

            // check conditions
            if n_iter == max_iter || current_evals >= max_eval || opt_cond {
                break;
            }
            let tc = t.c();
            if abs_max(d.iter().map(|&x| x * tc)) <= fl(tol_change) {
                break;
            }
            if let Some(pl) = prev_loss
                && fabs(loss - pl) < tol_change
            {
                break;
            }
        }
        st.t = t.v;
        st.h_diag = h_diag;
        st.prev_loss = prev_loss;
        Ok(orig_loss)
    }

    /// `_directional_evaluate(closure, x, t, d)`: the loss and flat gradient (into `out`) at
    /// `x + t·d`; the parameters are `x` again afterwards.
    fn directional_evaluate(
        &mut self,
        x: &[P::Compute],
        t: Num<P::Compute>,
        d: &[P::Compute],
        out: &mut [P::Compute],
    ) -> Result<f64, Error> {
        self.add_grad(t, d);
        let loss = self.evaluate();
        let r = self.gather(out);
        self.restore_params(x);
        r.map(|()| loss)
    }

    /// torch's `_strong_wolfe(obj_func, x, t, d, f, g, gtd)` with `c1 = 1e-4`, `c2 = 0.9` and
    /// `max_ls` trials at most. Returns `(f_new, t, evaluations)` and leaves `g_new` in `flat`.
    #[allow(clippy::too_many_arguments)]
    fn strong_wolfe(
        &mut self,
        x: &[P::Compute],
        slots: &mut [P::Compute],
        t0: Num<P::Compute>,
        d: &[P::Compute],
        f: f64,
        flat: &mut [P::Compute],
        gtd: Num<P::Compute>,
        max_ls: u64,
    ) -> Result<(f64, Num<P::Compute>, u64), Error> {
        type N<C> = Num<C>;
        let n = self.n;
        let tolerance_change = self.rule.tolerance_change;
        let mut t = t0;
        let d_norm = abs_max(d.iter().copied());
        // The trial gradients live in three slots; `Vid::Flat` is the initial `g` (unchanged
        // until the end). At most two vectors are referenced besides the one being evaluated.
        let slot = |i: usize| i * n..(i + 1) * n;
        let free = |a: Vid, b: Vid| -> usize {
            (0..3)
                .find(|&i| Vid::Slot(i) != a && Vid::Slot(i) != b)
                .unwrap_or(0)
        };
        let mut g_new = Vid::Slot(0);
        let r = slot(0);
        let mut f_new = self.directional_evaluate(x, t, d, &mut slots[r.clone()])?;
        let mut ls_func_evals = 1u64;
        let mut gtd_new = dot(&slots[r], d);

        let f_f = fl::<P::Compute>(f);
        let (c1, c2) = (fl::<P::Compute>(C1), fl::<P::Compute>(C2));
        let mut t_prev = fl::<P::Compute>(0.0);
        let mut f_prev = f;
        let mut g_prev = Vid::Flat;
        let mut gtd_prev = gtd;
        let mut done = false;
        let mut ls_iter = 0u64;
        let mut bracket = [t_prev, t];
        let mut bracket_f = [f_prev, f_new];
        let mut bracket_g = [g_prev, g_new];
        let mut bracket_gtd = [gtd_prev, gtd_new];
        while ls_iter < max_ls {
            if fl::<P::Compute>(f_new) > (f_f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev) {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                bracket_g = [g_prev, g_new];
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            if gtd_new.abs() <= -c2 * gtd {
                bracket = [t, t];
                bracket_f = [f_new, f_new];
                bracket_g = [g_new, g_new];
                done = true;
                break;
            }
            if gtd_new >= fl(0.0) {
                bracket = [t_prev, t];
                bracket_f = [f_prev, f_new];
                bracket_g = [g_prev, g_new];
                bracket_gtd = [gtd_prev, gtd_new];
                break;
            }
            // interpolate
            let min_step = t + fl(0.01) * (t - t_prev);
            let max_step = t * fl(10.0);
            let tmp = t;
            t = cubic_interpolate(
                t_prev,
                fl(f_prev),
                gtd_prev,
                t,
                fl(f_new),
                gtd_new,
                Some((min_step, max_step)),
            );
            // next step
            t_prev = tmp;
            f_prev = f_new;
            g_prev = g_new;
            gtd_prev = gtd_new;
            let k = free(g_prev, g_prev);
            g_new = Vid::Slot(k);
            let r = slot(k);
            f_new = self.directional_evaluate(x, t, d, &mut slots[r.clone()])?;
            ls_func_evals += 1;
            gtd_new = dot(&slots[r], d);
            ls_iter += 1;
        }
        // reached max number of iterations?
        if ls_iter == max_ls {
            bracket = [fl(0.0), t];
            bracket_f = [f, f_new];
            bracket_g = [Vid::Flat, g_new];
        }

        // zoom phase
        let mut insuf_progress = false;
        let order = |bf: &[f64; 2]| if bf[0] <= bf[1] { (0, 1) } else { (1, 0) };
        let (mut low_pos, mut high_pos) = order(&bracket_f);
        while !done && ls_iter < max_ls {
            if (bracket[1] - bracket[0]).abs() * d_norm < fl(tolerance_change) {
                break;
            }
            t = cubic_interpolate(
                bracket[0],
                fl(bracket_f[0]),
                bracket_gtd[0],
                bracket[1],
                fl(bracket_f[1]),
                bracket_gtd[1],
                None,
            );
            let bmax = pmax(bracket[0], bracket[1]);
            let bmin = pmin(bracket[0], bracket[1]);
            let eps = fl(0.1) * (bmax - bmin);
            if pmin(bmax - t, t - bmin) < eps {
                if insuf_progress || t >= bmax || t <= bmin {
                    t = if (t - bmax).abs() < (t - bmin).abs() {
                        bmax - eps
                    } else {
                        bmin + eps
                    };
                    insuf_progress = false;
                } else {
                    insuf_progress = true;
                }
            } else {
                insuf_progress = false;
            }

            // Evaluate new point
            let k = free(bracket_g[0], bracket_g[1]);
            let g_new = Vid::Slot(k);
            let r = slot(k);
            let f_new = self.directional_evaluate(x, t, d, &mut slots[r.clone()])?;
            ls_func_evals += 1;
            let gtd_new: N<P::Compute> = dot(&slots[r], d);
            ls_iter += 1;

            if fl::<P::Compute>(f_new) > (f_f + c1 * t * gtd) || f_new >= bracket_f[low_pos] {
                // Armijo condition not satisfied or not lower than lowest point
                bracket[high_pos] = t;
                bracket_f[high_pos] = f_new;
                bracket_g[high_pos] = g_new;
                bracket_gtd[high_pos] = gtd_new;
                (low_pos, high_pos) = order(&bracket_f);
            } else {
                if gtd_new.abs() <= -c2 * gtd {
                    done = true;
                } else if gtd_new * (bracket[high_pos] - bracket[low_pos]) >= fl(0.0) {
                    // old high becomes new low
                    bracket[high_pos] = bracket[low_pos];
                    bracket_f[high_pos] = bracket_f[low_pos];
                    bracket_g[high_pos] = bracket_g[low_pos];
                    bracket_gtd[high_pos] = bracket_gtd[low_pos];
                }
                // new point becomes new low
                bracket[low_pos] = t;
                bracket_f[low_pos] = f_new;
                bracket_g[low_pos] = g_new;
                bracket_gtd[low_pos] = gtd_new;
            }
        }

        let t = bracket[low_pos];
        let f_new = bracket_f[low_pos];
        if let Vid::Slot(k) = bracket_g[low_pos] {
            flat.copy_from_slice(&slots[k * n..(k + 1) * n]);
        }
        Ok((f_new, t, ls_func_evals))
    }
}

#[cfg(feature = "alloc")]
const LINE_SEARCH_EXPECTED: &str = "None or \"strong_wolfe\" (torch supports no other)";

#[cfg(feature = "alloc")]
impl crate::config::Field for LineSearch {
    fn from_value(v: &crate::Value, key: &str) -> Result<Self, Error> {
        match v {
            crate::Value::None => Ok(LineSearch::None),
            crate::Value::Str(s) if s == "strong_wolfe" => Ok(LineSearch::StrongWolfe),
            _ => Err(Error::InvalidType {
                key: alloc::string::ToString::to_string(key),
                expected: LINE_SEARCH_EXPECTED,
                group: None,
            }),
        }
    }
    fn to_value(&self) -> crate::Value {
        self.as_str()
            .map_or(crate::Value::None, |s| crate::Value::Str(s.into()))
    }
}

#[cfg(feature = "alloc")]
impl crate::config::Field for Option<u64> {
    fn from_value(v: &crate::Value, key: &str) -> Result<Self, Error> {
        match v {
            crate::Value::None => Ok(None),
            v => v.as_count(key).map(Some),
        }
    }
    fn to_value(&self) -> crate::Value {
        self.map_or(crate::Value::None, |x| {
            crate::Value::Int(i64::try_from(x).unwrap_or(i64::MAX))
        })
    }
}

/// `torch.optim.LBFGS`'s keyword arguments, in its signature order.
#[cfg(feature = "alloc")]
impl crate::config::Hyper for Lbfgs {
    fn keys(&self) -> &'static [&'static str] {
        &[
            "lr",
            "max_iter",
            "max_eval",
            "tolerance_grad",
            "tolerance_change",
            "history_size",
            "line_search_fn",
            "maximize",
        ]
    }
    fn get(&self, key: &str) -> Option<crate::Value> {
        use crate::config::Field;
        Some(match key {
            "lr" => self.lr.to_value(),
            "max_iter" => self.max_iter.to_value(),
            "max_eval" => self.max_eval.to_value(),
            "tolerance_grad" => self.tolerance_grad.to_value(),
            "tolerance_change" => self.tolerance_change.to_value(),
            "history_size" => self.history_size.to_value(),
            "line_search_fn" => self.line_search_fn.to_value(),
            "maximize" => self.maximize.to_value(),
            _ => return None,
        })
    }
    fn set(&mut self, key: &str, value: &crate::Value) -> Result<(), Error> {
        use crate::config::Field;
        match key {
            "lr" => self.lr = Field::from_value(value, key)?,
            "max_iter" => self.max_iter = Field::from_value(value, key)?,
            "max_eval" => self.max_eval = Field::from_value(value, key)?,
            "tolerance_grad" => self.tolerance_grad = Field::from_value(value, key)?,
            "tolerance_change" => self.tolerance_change = Field::from_value(value, key)?,
            "history_size" => self.history_size = Field::from_value(value, key)?,
            "line_search_fn" => self.line_search_fn = Field::from_value(value, key)?,
            "maximize" => self.maximize = Field::from_value(value, key)?,
            _ => {
                return Err(Error::UnknownKey {
                    optimizer: "LBFGS",
                    key: alloc::string::ToString::to_string(key),
                    group: None,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type N = Num<f64>;

    #[test]
    fn cubic_without_real_minimizer_returns_midpoint_of_bounds() {
        // Points (0, f 0, f' 3) and (1, f 2, f' 3): d1 = 3 + 3 - 3·(0 - 2)/(0 - 1) = 0 and
        // d1² - g1·g2 = -9 < 0 (the `sqrt` of a negative number is never taken).
        let x = |v| N::float(v);
        let g = |v| N::tensor(v);
        let r = cubic_interpolate(x(0.0), x(0.0), g(3.0), x(1.0), x(2.0), g(3.0), None);
        assert_eq!(r.v, (0.0 + 1.0) / 2.0);
        let r = cubic_interpolate(x(1.0), x(2.0), g(3.0), x(0.0), x(0.0), g(3.0), None);
        assert_eq!(r.v, (0.0 + 1.0) / 2.0);
        let b = Some((x(0.25), x(3.0)));
        let r = cubic_interpolate(x(0.0), x(0.0), g(3.0), x(1.0), x(2.0), g(3.0), b);
        assert_eq!(r.v, (0.25 + 3.0) / 2.0);
        // NaN inputs: `d2_square >= 0` is false, the midpoint again.
        let r = cubic_interpolate(x(0.0), x(f64::NAN), g(1.0), x(1.0), x(0.0), g(1.0), None);
        assert_eq!(r.v, 0.5);
    }

    #[test]
    fn cubic_is_exact_on_a_cubic_and_clamps_to_bounds() {
        // f = (x - c)³/3 - k(x - c)... use a quadratic (a cubic with zero cubic term):
        // f = (x - m)², its minimizer m is recovered exactly from two points.
        let m = 0.375;
        let f = |x: f64| (x - m) * (x - m);
        let df = |x: f64| 2.0 * (x - m);
        // Interpolates f between x1 and x2 from the values and slopes there.
        let interpolate = |x1: f64, x2: f64, bounds: Option<(f64, f64)>| {
            let (f1, g1) = (N::float(f(x1)), N::tensor(df(x1)));
            let (f2, g2) = (N::float(f(x2)), N::tensor(df(x2)));
            let bounds = bounds.map(|(lo, hi)| (N::float(lo), N::float(hi)));
            cubic_interpolate(N::float(x1), f1, g1, N::float(x2), f2, g2, bounds).v
        };
        let (a, b) = (0.0, 1.0);
        assert_eq!(interpolate(a, b, None), m);
        // Same points in the other order take the x1 > x2 branch.
        assert_eq!(interpolate(b, a, None), m);
        // The minimizer outside the bounds is clamped to the nearer bound.
        assert_eq!(interpolate(a, b, Some((0.5, 0.9))), 0.5);
    }

    #[test]
    fn f32_tensor_scalars_round_and_compare_in_f32() {
        type M = Num<f32>;
        // torch: tensor(1e-10, float32) > 1e-10 is False (the float is rounded to f32 first).
        let t = M::tensor(1e-10);
        assert_eq!(
            t.partial_cmp(&M::float(1e-10)),
            Some(core::cmp::Ordering::Equal)
        );
        assert!(M::float(t.v) > M::float(1e-10));
        // float op tensor rounds to f32; float op float stays f64.
        assert_eq!((M::float(0.1) + M::tensor(0.0)).v, f64::from(0.1f32));
        assert_eq!((M::float(0.1) + M::float(0.2)).v, 0.1 + 0.2);
    }

    #[test]
    fn state_len_counts_every_vector() {
        let l = Lbfgs {
            history_size: 3,
            ..Lbfgs::DEFAULT
        };
        assert_eq!(l.state_len(10), (3 + 6) * 10 + 6);
        let w = Lbfgs {
            line_search_fn: LineSearch::StrongWolfe,
            ..l
        };
        assert_eq!(w.state_len(10), (7 + 6) * 10 + 6);
        assert_eq!(w.state_len(usize::MAX), usize::MAX);
    }

    #[test]
    fn invalid_configs_name_the_key() {
        let bad = |l: Lbfgs| {
            let e = l.validate().unwrap_err();
            e.key().map(std::string::String::from)
        };
        let d = Lbfgs::DEFAULT;
        assert_eq!(
            bad(Lbfgs {
                lr: -1.0,
                ..d.clone()
            })
            .as_deref(),
            Some("lr")
        );
        assert_eq!(
            bad(Lbfgs {
                history_size: 0,
                ..d.clone()
            })
            .as_deref(),
            Some("history_size")
        );
        assert_eq!(
            bad(Lbfgs {
                line_search_fn: LineSearch::StrongWolfe,
                max_eval: Some(0),
                ..d.clone()
            })
            .as_deref(),
            Some("max_eval")
        );
        assert!(
            Lbfgs {
                max_eval: Some(0),
                ..d
            }
            .validate()
            .is_ok()
        );
    }
}
