//! Shape-aware rules: an update that needs the whole tensor and its shape (per-tensor reductions,
//! matrix products), with state sized from the shape and a scratch workspace.
//!
//! An elementwise [`Rule`](crate::rules::Rule) updates each element from that element alone, so
//! its state is `slots × numel` and any slice of a tensor can be updated on its own. A
//! [`ShapedRule`] ([`Adafactor`](crate::rules::Adafactor), [`Muon`](crate::rules::Muon)) reads the
//! tensor as a whole:
//!
//! - its state length is a function of the shape ([`ShapedRule::state_len`]; Adafactor keeps a row
//!   and a column vector per matrix instead of a full second moment), laid out as each rule
//!   documents;
//! - it may need scratch memory during an update ([`ShapedRule::workspace_len`] elements of
//!   [`ShapedRule::Work`]; Muon's Newton–Schulz matrices), which the caller provides — sized once,
//!   when the optimizer is built, and shared by every tensor (each update uses a prefix);
//! - it may accept only some shapes ([`ShapedRule::check_shape`]; Muon: 2-D only).
//!
//! Like the elementwise kernels, these need neither `std` nor `alloc`: state and workspace are
//! caller-provided slices whose lengths come from `const fn` helpers on each rule:
//!
//! ```
//! use optim_kernels::rules::{Muon, ShapedRule};
//! const SHAPE: [usize; 2] = [4, 6];
//! let muon = Muon { lr: 0.02, ..Muon::DEFAULT };
//! let mut state = [0.0f32; Muon::DEFAULT.state_len(&SHAPE)]; // momentum_buffer
//! let mut work = [0.0f32; Muon::DEFAULT.workspace_len(&SHAPE)]; // Newton–Schulz scratch
//! let (mut p, g) = ([0.5f32; 24], [0.1f32; 24]);
//! let mut step = 0;
//! muon.step(&mut step, &SHAPE, &mut p, &g, &mut state, &mut work)?;
//! assert!(p[0] < 0.5);
//! # Ok::<(), optim_kernels::Error>(())
//! ```
//!
//! Reductions inside a tensor (norms, row and column means, matrix products) run in one fixed
//! order that does not depend on the lane width, so the SIMD and scalar paths still give the same
//! bits; each rule documents its order.

use crate::element::Element;
use crate::error::Error;
use crate::lanes::{Lanes, Real};
use crate::rules::sealed;

/// A rule whose update of a tensor depends on the tensor's shape: see the [module
/// docs](crate::rules::shaped).
///
/// Sealed; implemented by [`Adafactor`](crate::rules::Adafactor) and
/// [`Muon`](crate::rules::Muon). The optimizer layer drives these exactly like the elementwise
/// rules (groups, overrides, lr changes, missing gradients).
pub trait ShapedRule:
    sealed::Sealed + Clone + core::fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// The workspace element type (Adafactor: `f64` column sums; Muon: `f32` matrices).
    type Work: Copy + Default + core::fmt::Debug + PartialEq + Send + Sync + 'static;

    /// The canonical (PyTorch) class name, e.g. `"Adafactor"`.
    fn name(&self) -> &'static str;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (what an LR scheduler does between steps). Not validated here.
    fn set_lr(&mut self, lr: f64);

    /// The checks the reference constructor makes, and more where the reference would silently
    /// produce NaN.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] or [`Error::Conflict`] naming the key.
    fn validate(&self) -> Result<(), Error>;

    /// Whether the rule updates tensors of this shape.
    ///
    /// # Errors
    /// Why not (the reference's rejection), for [`Error::UnsupportedShape`].
    fn check_shape(&self, shape: &[usize]) -> Result<(), &'static str>;

    /// State elements of a tensor of this shape (saturating on overflow).
    fn state_len(&self, shape: &[usize]) -> usize;

    /// Workspace elements one update of a tensor of this shape needs (saturating on overflow).
    fn workspace_len(&self, shape: &[usize]) -> usize;

    /// One update with lane type `V` for the tensor's own arithmetic and `W` for `f32` workspace
    /// arithmetic (the SIMD-vs-scalar tests pick both). `step` counts this update (1 on the
    /// first). Lengths must be valid: `shape` accepted, `p.len() == g.len() == numel(shape)`,
    /// `state.len() == state_len(shape)`, `work.len() >= workspace_len(shape)`.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn update_with<P, S, V, W>(
        &self,
        step: u64,
        shape: &[usize],
        p: &mut [P],
        g: &[P],
        state: &mut [S],
        work: &mut [Self::Work],
    ) where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
        W: Lanes<Scalar = f32>;

    /// One update of one tensor of this `shape` (row-major `p` and `g`): advances `step`
    /// (saturating) and updates `p` and `state` in place, using `work` as scratch (its contents
    /// on entry do not matter; it may be longer than needed).
    ///
    /// Allocation-free and `no_std`. The state must start zeroed (or restored from a previous
    /// run).
    ///
    /// # Errors
    /// [`Error::UnsupportedShape`] (tensor 0) for a shape the rule does not take;
    /// [`Error::ShapeMismatch`] (tensor 0) if `p`, `g`, `state` or `work` have the wrong length.
    /// Nothing is written then.
    #[inline]
    fn step<P, S>(
        &self,
        step: &mut u64,
        shape: &[usize],
        p: &mut [P],
        g: &[P],
        state: &mut [S],
        work: &mut [Self::Work],
    ) -> Result<(), Error>
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        check_shaped(self, 0, shape, p.len(), g.len(), state.len(), work.len())?;
        *step = step.saturating_add(1);
        self.update_with::<P, S, <P::Compute as Real>::Vector, <f32 as Real>::Vector>(
            *step, shape, p, g, state, work,
        );
        Ok(())
    }
}

/// Number of elements of a tensor of this shape (1 for `[]`), saturating on overflow.
#[inline]
pub const fn numel(shape: &[usize]) -> usize {
    let mut n = 1usize;
    let mut i = 0;
    while i < shape.len() {
        n = n.saturating_mul(shape[i]);
        i += 1;
    }
    n
}

/// Every check of [`ShapedRule::step`], before anything is written; errors name `tensor`.
#[inline]
pub(crate) fn check_shaped<R: ShapedRule>(
    rule: &R,
    tensor: usize,
    shape: &[usize],
    p: usize,
    g: usize,
    state: usize,
    work: usize,
) -> Result<(), Error> {
    rule.check_shape(shape)
        .map_err(|reason| Error::UnsupportedShape { tensor, reason })?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    let mismatch = |what, expected, found| Error::ShapeMismatch {
        tensor,
        what,
        expected,
        found,
    };
    if p != n {
        return Err(mismatch("param", n, p));
    }
    if g != n {
        return Err(mismatch("grad", n, g));
    }
    let state_len = rule.state_len(shape);
    if state != state_len {
        return Err(mismatch("state", state_len, state));
    }
    let work_len = rule.workspace_len(shape);
    if work < work_len {
        return Err(mismatch("workspace", work_len, work));
    }
    Ok(())
}
