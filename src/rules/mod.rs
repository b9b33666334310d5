//! Update rules: one file per rule, each an `#[inline]` kernel over slices that needs neither `std`
//! nor `alloc`.
//!
//! A rule value (e.g. [`Adam`]) holds the hyperparameters of one parameter group, with PyTorch's
//! keyword names as field names. [`Rule::step`] applies one update to one tensor:
//!
//! ```
//! use optim_kernels::rules::{Adam, Rule};
//! let adamw = Adam { lr: 1e-2, ..Adam::ADAMW };  // or `AdamW { lr: 1e-2, ..AdamW::DEFAULT }`
//! let mut p = [1.0f32, -2.0, 3.0];
//! let g = [0.1f32, 0.2, -0.3];
//! let mut state = [0.0f32; Adam::ADAMW.state_len(3)]; // exp_avg | exp_avg_sq
//! let mut step = 0u64;
//! adamw.step(&mut step, &mut p, &g, &mut state).unwrap();
//! assert_eq!(step, 1);
//! assert!(p[0] < 1.0);
//! ```
//!
//! State is `slots() × n` elements: slot `k` of a tensor with `n` elements is
//! `state[k*n .. (k+1)*n]`, in the order each rule documents. Zero-initialised state is the
//! reference's initial state for every rule here (SGD's momentum buffer is written from the first
//! gradient, as in PyTorch, so its initial contents are never read).

use crate::drive::Body;
use crate::element::Element;
use crate::error::Error;
use crate::lanes::{Lanes, Real};

pub mod adam;
pub mod adamw;
pub mod lion;
pub mod sgd;

pub use adam::Adam;
pub use adamw::AdamW;
pub use lion::Lion;
pub use sgd::Sgd;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Sgd {}
    impl Sealed for super::Adam {}
    impl Sealed for super::AdamW {}
    impl Sealed for super::Lion {}
}

/// An elementwise update rule: the hyperparameters of one parameter group and its kernel.
///
/// Sealed; implemented by every rule in [`crate::rules`].
pub trait Rule:
    sealed::Sealed + Clone + core::fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// The canonical (PyTorch / reference) class name, e.g. `"AdamW"`.
    fn name(&self) -> &'static str;

    /// State slots per parameter element for this configuration (e.g. 2 for Adam, 3 with amsgrad).
    fn slots(&self) -> usize;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (what an LR scheduler does between steps). Not validated here;
    /// [`crate::Optimizer::set_lr`] validates.
    fn set_lr(&mut self, lr: f64);

    /// The checks the reference constructor makes, and more where the reference would silently
    /// produce NaN.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] or [`Error::Conflict`] naming the key.
    fn validate(&self) -> Result<(), Error>;

    /// Applies one update with lane type `V`, the state given slot by slot (the first
    /// `self.slots()` entries, each of `p.len()` elements; the rest empty). Lets a caller update a
    /// tensor in independent pieces (e.g. across threads).
    #[doc(hidden)]
    fn update_slots_with<P, S, V>(&self, step: u64, p: &mut [P], g: &[P], state: Slots<'_, S>)
    where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>;

    /// Applies one update with lane type `V` (the SIMD-vs-scalar tests pick `V`).
    ///
    /// `step` counts this update (1 on the first). Lengths must be valid: `g.len() == p.len()`,
    /// `state.len() == self.slots() * p.len()`.
    #[doc(hidden)]
    #[inline]
    fn update_with<P, S, V>(&self, step: u64, p: &mut [P], g: &[P], state: &mut [S])
    where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
    {
        let n = p.len();
        if n == 0 {
            return;
        }
        let mut it = state.chunks_exact_mut(n);
        let slots: Slots<'_, S> = core::array::from_fn(|_| it.next().unwrap_or_default());
        self.update_slots_with::<P, S, V>(step, p, g, slots);
    }

    /// Number of state elements for a tensor of `n` elements.
    #[inline]
    fn state_len(&self, n: usize) -> usize {
        self.slots().saturating_mul(n)
    }

    /// One update of one tensor: advances `step` (saturating) and updates `p` and `state` in place.
    ///
    /// Allocation-free and `no_std`. The state must start zeroed (or restored from a previous run).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (tensor 0) if `g` or `state` have the wrong length; nothing is
    /// written then.
    #[inline]
    fn step<P, S>(&self, step: &mut u64, p: &mut [P], g: &[P], state: &mut [S]) -> Result<(), Error>
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        check_lengths(0, self.state_len(p.len()), p.len(), g.len(), state.len())?;
        *step = step.saturating_add(1);
        self.update_with::<P, S, <P::Compute as Real>::Vector>(*step, p, g, state);
        Ok(())
    }
}

/// The length checks shared by every entry point, before anything is written.
#[inline]
pub(crate) fn check_lengths(
    tensor: usize,
    state_expected: usize,
    p: usize,
    g: usize,
    state: usize,
) -> Result<(), Error> {
    if g != p {
        return Err(Error::ShapeMismatch {
            tensor,
            what: "grad",
            expected: p,
            found: g,
        });
    }
    if state != state_expected {
        return Err(Error::ShapeMismatch {
            tensor,
            what: "state",
            expected: state_expected,
            found: state,
        });
    }
    Ok(())
}

/// The most state slots any rule has.
pub const MAX_SLOTS: usize = 3;

/// A tensor's state slot by slot: the first `slots()` entries hold `n` elements each, the rest
/// are empty.
pub type Slots<'a, S> = [&'a mut [S]; MAX_SLOTS];

/// Runs `body` with lane type `V` over the first `K` slots.
#[inline(always)]
pub(crate) fn run_slots<P, S, B, V, const K: usize>(
    body: &B,
    p: &mut [P],
    g: &[P],
    state: Slots<'_, S>,
) where
    P: Element,
    S: Element<Compute = P::Compute>,
    B: Body<P::Compute, K>,
    V: Lanes<Scalar = P::Compute>,
{
    if p.is_empty() {
        return;
    }
    let mut it = state.into_iter();
    let slots: [&mut [S]; K] = core::array::from_fn(|_| it.next().unwrap_or_default());
    crate::drive::run_with::<P, S, B, V, K>(body, p, g, slots);
}

/// Runs `$body` with each boolean expression turned into a `const` of the given name, so that a
/// rule's per-step flags become const generic parameters of its body: every loop the compiler
/// sees is straight-line (no per-vector branch to unswitch), whatever the element types.
macro_rules! const_bools {
    (($($flag:ident = $value:expr),+ $(,)?) => $body:expr) => {
        const_bools!(@expand [$(($flag, $value))+] [] => $body)
    };
    (@expand [($flag:ident, $value:expr) $($rest:tt)*] [$($done:tt)*] => $body:expr) => {
        if $value {
            const_bools!(@expand [$($rest)*] [$($done)* ($flag, true)] => $body)
        } else {
            const_bools!(@expand [$($rest)*] [$($done)* ($flag, false)] => $body)
        }
    };
    (@expand [] [$(($flag:ident, $v:literal))*] => $body:expr) => {{
        $(#[allow(non_upper_case_globals)] const $flag: bool = $v;)*
        $body
    }};
}
pub(crate) use const_bools;

/// `torch.lerp(a, b, w)` for a scalar weight, with PyTorch's two formulas
/// (`aten/src/ATen/native/Lerp.h`): `a + w·(b − a)` when `|w| < 0.5`, else `b − (b − a)·(1 − w)`,
/// where `1 − w` is computed in the compute type. [`Lerp::small`] picks the formula once per step;
/// the body takes it as a const generic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lerp<C> {
    w: C,
    one_minus_w: C,
    pub(crate) small: bool,
}

impl<C: Real> Lerp<C> {
    #[inline]
    pub(crate) fn new(w: f64) -> Self {
        let w = C::from_f64(w);
        Lerp {
            w,
            one_minus_w: C::one() - w,
            small: w.abs() < C::from_f64(0.5),
        }
    }

    #[inline(always)]
    pub(crate) fn apply<V: Lanes<Scalar = C>, const SMALL: bool>(&self, a: V, b: V) -> V {
        if SMALL {
            a + V::splat(self.w) * (b - a)
        } else {
            b - (b - a) * V::splat(self.one_minus_w)
        }
    }
}

/// `x · (1 − lr·λ)`: decoupled weight decay with its factor computed once per step in f64.
#[inline(always)]
pub(crate) fn decoupled_decay<V: Lanes>(p: V, factor: V::Scalar) -> V {
    p * V::splat(factor)
}
