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
//! `state[k*n .. (k+1)*n]`, in the order each rule documents. Before the first update every
//! element of slot `k` holds [`Rule::initial_state`]`(k)`, the reference's initial state: zero
//! for every rule but [`Adagrad`] (its `sum` starts at `initial_accumulator_value`).
//! [`Rule::init_state`] fills a state slice with it; zeroed memory is the initial state whenever
//! every `initial_state` is 0. (SGD's momentum buffer is written from the first gradient, as in
//! PyTorch, so its initial contents are never read.)

use crate::drive::{Body, HeadBody};
use crate::element::Element;
use crate::error::{Error, check_len, non_negative, unit_interval};
use crate::lanes::{Lanes, Real};
use core::marker::PhantomData;

pub mod adadelta;
pub mod adafactor;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod adamw;
pub mod asgd;
pub mod base;
pub mod lbfgs;
pub mod lion;
pub mod muon;
pub mod nadam;
pub mod radam;
pub mod rmsprop;
pub mod rprop;
pub mod schedule_free;
pub mod sgd;
pub mod shaped;
pub mod sparse_adam;

pub use adadelta::Adadelta;
pub use adafactor::Adafactor;
pub use adagrad::Adagrad;
pub use adam::Adam;
pub use adamax::Adamax;
pub use adamw::AdamW;
pub use asgd::{Asgd, AsgdScalars};
pub use base::BaseRule;
pub use lbfgs::{Lbfgs, LbfgsState, LineSearch};
pub use lion::Lion;
pub use muon::{AdjustLr, Muon};
pub use nadam::{NAdam, NAdamScalars};
pub use radam::RAdam;
pub use rmsprop::RmsProp;
pub use rprop::Rprop;
pub use schedule_free::{
    AdamWScheduleFree, AdamWScheduleFreePaper, AdamWScheduleFreeReference, RAdamScheduleFree,
    Schedule, ScheduleFreeWrapper, SgdScheduleFree, SgdScheduleFreeReference,
};
pub use sgd::Sgd;
pub use shaped::ShapedRule;
pub use sparse_adam::SparseAdam;

pub(crate) mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Sgd {}
    impl Sealed for super::Adam {}
    impl Sealed for super::AdamW {}
    impl Sealed for super::Lion {}
    impl Sealed for super::RAdam {}
    impl Sealed for super::Rprop {}
    impl Sealed for super::NAdam {}
    impl Sealed for super::Asgd {}
    impl Sealed for super::SparseAdam {}
    impl Sealed for super::BaseRule {}
    impl Sealed for super::SgdScheduleFree {}
    impl Sealed for super::SgdScheduleFreeReference {}
    impl Sealed for super::AdamWScheduleFree {}
    impl Sealed for super::AdamWScheduleFreePaper {}
    impl Sealed for super::AdamWScheduleFreeReference {}
    impl Sealed for super::RAdamScheduleFree {}
    impl<B: super::Rule> Sealed for super::ScheduleFreeWrapper<B> {}
    impl Sealed for super::RmsProp {}
    impl Sealed for super::Adagrad {}
    impl Sealed for super::Adadelta {}
    impl Sealed for super::Adamax {}
    impl Sealed for super::Adafactor {}
    impl Sealed for super::Muon {}
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

    /// State a parameter group carries from one step to the next: schedule-free's `k`,
    /// `lr_max` and `weight_sum` ([`Schedule`]); `()` for every rule without.
    type Schedule: Clone + core::fmt::Debug + PartialEq + Default + Send + Sync + 'static;

    /// Scalars computed once per group and step by [`begin_step`](Rule::begin_step) and shared
    /// by the updates of the group's tensors (schedule-free: the scheduled lr and the averaging
    /// weight); `()` for every rule without.
    type Scalars: Copy + core::fmt::Debug + Send + Sync;

    /// Scalars one tensor carries from step to step besides its elementwise state (e.g. NAdam's
    /// `mu_product`, ASGD's `eta` and `mu`); `()` for every rule without.
    type TensorState: Clone + core::fmt::Debug + PartialEq + Default + Send + Sync + 'static;

    /// Starts one tensor's update within a step: refines the group's scalars with the tensor's
    /// own state (and advances that state). Called exactly once per tensor update, before the
    /// kernel runs (however the tensor is split across threads). The default passes the group's
    /// scalars through.
    #[inline]
    fn begin_tensor(
        &self,
        scalars: &Self::Scalars,
        step: u64,
        state: &mut Self::TensorState,
    ) -> Self::Scalars {
        let _ = (step, state);
        *scalars
    }

    /// Starts one optimizer step of a parameter group: advances the group's schedule and returns
    /// the scalars for [`step_with`](Rule::step_with). Call it exactly once per step and group,
    /// whether or not the group's tensors have gradients (as PyTorch advances a group's `k`).
    fn begin_step(&self, schedule: &mut Self::Schedule) -> Self::Scalars;

    /// Whether the rule keeps different parameters for training and for evaluation
    /// (schedule-free: `y` and `x`); see [`to_eval`](Rule::to_eval).
    #[inline]
    fn has_modes(&self) -> bool {
        false
    }

    /// Whether every tensor must have a gradient at every step (schedulefree's
    /// `ScheduleFreeWrapperReference` moves tensors without one, which this crate does not
    /// reproduce; it refuses such steps instead).
    #[inline]
    fn needs_every_grad(&self) -> bool {
        false
    }

    /// Hands the rule's body for this step to `f` (the kernel hook wrappers compose with).
    #[doc(hidden)]
    fn visit_body<C: Real, F: Visit<C>>(&self, scalars: &Self::Scalars, step: u64, f: F);

    /// Applies one update with lane type `V`, the state given slot by slot (the first
    /// `self.slots()` entries, each of `p.len()` elements; the rest empty). Lets a caller update a
    /// tensor in independent pieces (e.g. across threads).
    #[doc(hidden)]
    #[inline]
    fn update_slots_with<P, S, V>(
        &self,
        scalars: &Self::Scalars,
        step: u64,
        p: &mut [P],
        g: &[P],
        state: Slots<'_, S>,
    ) where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
    {
        self.visit_body::<P::Compute, _>(
            scalars,
            step,
            RunSlots::<P, S, V> {
                p,
                g,
                state,
                _lanes: PhantomData,
            },
        );
    }

    /// Applies one update with lane type `V` (the SIMD-vs-scalar tests pick `V`).
    ///
    /// `step` counts this update (1 on the first). Lengths must be valid: `g.len() == p.len()`,
    /// `state.len() == self.slots() * p.len()`.
    #[doc(hidden)]
    #[inline]
    fn update_with<P, S, V>(
        &self,
        scalars: &Self::Scalars,
        step: u64,
        p: &mut [P],
        g: &[P],
        state: &mut [S],
    ) where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
    {
        if p.is_empty() {
            return;
        }
        self.update_slots_with::<P, S, V>(scalars, step, p, g, split_slots(state, p.len()));
    }

    /// Number of state elements for a tensor of `n` elements.
    #[inline]
    fn state_len(&self, n: usize) -> usize {
        self.slots().saturating_mul(n)
    }

    /// The value every element of state slot `slot` holds before a tensor's first update (the
    /// reference's initial state): 0 for every rule but [`Adagrad`], whose `sum` starts at
    /// `initial_accumulator_value`.
    #[inline]
    fn initial_state(&self, slot: usize) -> f64 {
        let _ = slot;
        0.0
    }

    /// Sets a tensor's state (`slots() × n` elements, slot-major) to its initial value: slot `k`
    /// to [`initial_state`](Self::initial_state)`(k)`, rounded once to `S`.
    ///
    /// A `state` whose length is not a multiple of `slots()` keeps its last `len % slots()`
    /// elements. The optimizer layer does this when it allocates state; callers of
    /// [`step`](Self::step) with their own buffers do it once before the first step.
    #[inline]
    fn init_state<S: Element>(&self, state: &mut [S]) {
        let k = self.slots();
        let Some(n) = state.len().checked_div(k) else {
            return;
        };
        if n == 0 {
            return;
        }
        for (slot, s) in state.chunks_exact_mut(n).enumerate() {
            s.fill(S::from_f64(self.initial_state(slot)));
        }
    }

    /// One update of one tensor within a step started by [`begin_step`](Rule::begin_step):
    /// advances the tensor's own `step` count (saturating) and updates `p` and `state` in place.
    ///
    /// Allocation-free and `no_std`. The state must start at the rule's initial state
    /// ([`init_state`](Self::init_state); zeroed memory when every
    /// [`initial_state`](Self::initial_state) is 0), or be restored from a previous run; a
    /// schedule-free rule initialises `z` from `p` on the tensor's first update.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (tensor 0) if `g` or `state` have the wrong length; nothing is
    /// written then.
    #[inline]
    fn step_with<P, S>(
        &self,
        scalars: &Self::Scalars,
        step: &mut u64,
        p: &mut [P],
        g: &[P],
        state: &mut [S],
    ) -> Result<(), Error>
    where
        Self: Rule<TensorState = ()>,
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        self.step_tensor_with(scalars, step, &mut (), p, g, state)
    }

    /// [`step_with`](Rule::step_with) for rules that keep per-tensor scalars
    /// ([`TensorState`](Rule::TensorState)): `tensor_state` starts as `Default::default()` and
    /// belongs to the tensor like `step` and `state`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (tensor 0) if `g` or `state` have the wrong length; nothing is
    /// written then.
    #[inline]
    fn step_tensor_with<P, S>(
        &self,
        scalars: &Self::Scalars,
        step: &mut u64,
        tensor_state: &mut Self::TensorState,
        p: &mut [P],
        g: &[P],
        state: &mut [S],
    ) -> Result<(), Error>
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        check_lengths(0, self.state_len(p.len()), p.len(), g.len(), state.len())?;
        *step = step.saturating_add(1);
        let scalars = self.begin_tensor(scalars, *step, tensor_state);
        self.update_with::<P, S, <P::Compute as Real>::Vector>(&scalars, *step, p, g, state);
        Ok(())
    }

    /// One update of one tensor, for rules without a per-group schedule: advances `step`
    /// (saturating) and updates `p` and `state` in place. (Schedule-free rules use
    /// [`begin_step`](Rule::begin_step) and [`step_with`](Rule::step_with).)
    ///
    /// Allocation-free and `no_std`. The state must start at the rule's initial state
    /// ([`init_state`](Self::init_state); zeroed memory when every
    /// [`initial_state`](Self::initial_state) is 0), or be restored from a previous run.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (tensor 0) if `g` or `state` have the wrong length; nothing is
    /// written then.
    #[inline]
    fn step<P, S>(&self, step: &mut u64, p: &mut [P], g: &[P], state: &mut [S]) -> Result<(), Error>
    where
        Self: Rule<Schedule = (), TensorState = ()>,
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        let scalars = self.begin_step(&mut ());
        self.step_with(&scalars, step, p, g, state)
    }

    /// Switches one tensor from training to evaluation parameters in place (schedule-free's
    /// `eval()`: `y` → `x`). `step` is the tensor's step count: a tensor that has never been
    /// updated has no state and is left as it is, as in the reference. A no-op for rules without
    /// modes.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `state` has the wrong length; nothing is written then.
    #[inline]
    fn to_eval<P, S>(&self, step: u64, p: &mut [P], state: &[S]) -> Result<(), Error>
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        check_lengths(0, self.state_len(p.len()), p.len(), p.len(), state.len())?;
        if step > 0 && !p.is_empty() {
            self.switch_mode_with::<P, S, <P::Compute as Real>::Vector>(Mode::Eval, p, state);
        }
        Ok(())
    }

    /// Switches one tensor from evaluation back to training parameters in place (schedule-free's
    /// `train()`: `x` → `y`); see [`to_eval`](Rule::to_eval).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `state` has the wrong length; nothing is written then.
    #[inline]
    fn to_train<P, S>(&self, step: u64, p: &mut [P], state: &[S]) -> Result<(), Error>
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        check_lengths(0, self.state_len(p.len()), p.len(), p.len(), state.len())?;
        if step > 0 && !p.is_empty() {
            self.switch_mode_with::<P, S, <P::Compute as Real>::Vector>(Mode::Train, p, state);
        }
        Ok(())
    }

    /// Writes the evaluation parameters of one tensor into `out` from its training parameters
    /// `p` and state, touching neither: bit for bit what [`to_eval`](Rule::to_eval) would leave
    /// in `p`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `state` or `out` has the wrong length; nothing is written then.
    #[inline]
    fn eval_params_into<P, S>(
        &self,
        step: u64,
        p: &[P],
        state: &[S],
        out: &mut [P],
    ) -> Result<(), Error>
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        check_lengths(0, self.state_len(p.len()), p.len(), out.len(), state.len())?;
        out.copy_from_slice(p);
        if step > 0 && !p.is_empty() {
            self.switch_mode_with::<P, S, <P::Compute as Real>::Vector>(Mode::Eval, out, state);
        }
        Ok(())
    }

    /// The mode switch of one tensor that has state, with lane type `V`; lengths are valid.
    #[doc(hidden)]
    #[inline]
    fn switch_mode_with<P, S, V>(&self, mode: Mode, p: &mut [P], state: &[S])
    where
        P: Element,
        S: Element<Compute = P::Compute>,
        V: Lanes<Scalar = P::Compute>,
    {
        let _ = (mode, p, state);
    }
}

/// The two parameter sets of a rule with modes (schedule-free).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training parameters (schedule-free: `y`, where gradients are evaluated).
    Train,
    /// Evaluation parameters (schedule-free: the average `x`).
    Eval,
}

/// Cuts a tensor's state into its slots.
#[inline]
fn split_slots<S>(state: &mut [S], n: usize) -> Slots<'_, S> {
    let mut it = state.chunks_exact_mut(n);
    core::array::from_fn(|_| it.next().unwrap_or_default())
}

/// Receives a rule's body for one step (see [`Rule::visit_body`]).
#[doc(hidden)]
pub trait Visit<C: Real> {
    /// A rule's own body with `K` state slots.
    fn visit<B: Body<C, K>, const K: usize>(self, body: &B);
    /// A body with `J` head slots in front of `K` rule slots (a wrapper around a rule).
    fn visit_head<B: HeadBody<C, J, K>, const J: usize, const K: usize>(self, body: &B);
}

/// The visitor that runs a body over a tensor's slots.
struct RunSlots<'a, P, S, V> {
    p: &'a mut [P],
    g: &'a [P],
    state: Slots<'a, S>,
    _lanes: PhantomData<V>,
}

impl<P, S, V> Visit<P::Compute> for RunSlots<'_, P, S, V>
where
    P: Element,
    S: Element<Compute = P::Compute>,
    V: Lanes<Scalar = P::Compute>,
{
    #[inline]
    fn visit<B: Body<P::Compute, K>, const K: usize>(self, body: &B) {
        self.visit_head::<B, 0, K>(body);
    }

    #[inline]
    fn visit_head<B: HeadBody<P::Compute, J, K>, const J: usize, const K: usize>(self, body: &B) {
        if self.p.is_empty() {
            return;
        }
        let mut it = self.state.into_iter();
        let h: [&mut [S]; J] = core::array::from_fn(|_| it.next().unwrap_or_default());
        let s: [&mut [S]; K] = core::array::from_fn(|_| it.next().unwrap_or_default());
        crate::drive::run_with::<P, S, B, V, J, K>(body, self.p, self.g, h, s);
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
    check_len(tensor, "grad", p, g)?;
    check_len(tensor, "state", state_expected, state)?;
    Ok(())
}

/// The most state slots any rule has (the schedule-free reference wrapper: `z`, `x` and three
/// slots of its base rule).
pub const MAX_SLOTS: usize = 5;

/// A tensor's state slot by slot: the first `slots()` entries hold `n` elements each, the rest
/// are empty.
pub type Slots<'a, S> = [&'a mut [S]; MAX_SLOTS];

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

/// The `Rule` methods every rule writes the same way: its PyTorch class name, its state slots per
/// element (`|r| expr`, `r` being `&self`; omitted for `ShapedRule`s, which have none), and the
/// learning rate, read from and written to its `lr` field.
macro_rules! name_slots_lr {
    ($name:literal, |$r:tt| $slots:expr) => {
        name_slots_lr!($name);
        #[inline]
        fn slots(&self) -> usize {
            let $r = self;
            $slots
        }
    };
    ($name:literal) => {
        #[inline]
        fn name(&self) -> &'static str {
            $name
        }
        #[inline]
        fn lr(&self) -> f64 {
            self.lr
        }
        #[inline]
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
    };
}
pub(crate) use name_slots_lr;

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

/// torch's `_multi_tensor_*` paths refuse autograd (`AssertionError: _foreach ops don't support
/// autograd`, raised at the first step on every device): `foreach=True` with
/// `differentiable=True` is a configuration torch never runs.
#[inline]
pub(crate) fn check_foreach_differentiable(
    foreach: Option<bool>,
    differentiable: bool,
) -> Result<(), Error> {
    if foreach == Some(true) && differentiable {
        return Err(Error::Conflict {
            key: "foreach",
            reason: "`foreach` does not support `differentiable` (torch: \"_foreach ops don't \
                     support autograd\")",
            group: None,
        });
    }
    Ok(())
}

/// torch's checks of `fused=True` (SGD, Adam, AdamW, Adagrad constructors, in this order):
/// `fused` with `differentiable`, then `fused` with `foreach=True`.
pub(crate) fn check_fused(
    fused: Option<bool>,
    foreach: Option<bool>,
    differentiable: bool,
) -> Result<(), Error> {
    if fused == Some(true) && differentiable {
        return Err(Error::Conflict {
            key: "fused",
            reason: "`fused` does not support `differentiable`",
            group: None,
        });
    }
    if fused == Some(true) && foreach == Some(true) {
        return Err(Error::Conflict {
            key: "fused",
            reason: "`fused` and `foreach` cannot be `True` together",
            group: None,
        });
    }
    Ok(())
}

/// The constructor checks torch's Adam family shares (`adam.py`, `adamax.py`, `radam.py`,
/// `nadam.py`), in its order: `0 <= lr`, `0 <= eps`, each beta in `[0, 1)`, `0 <= weight_decay`
/// (infinities refused too).
pub(crate) fn check_adam_family(
    lr: f64,
    eps: f64,
    (beta1, beta2): (f64, f64),
    weight_decay: f64,
) -> Result<(), Error> {
    non_negative!("lr", lr)?;
    non_negative!("eps", eps)?;
    unit_interval!("betas[0]", beta1)?;
    unit_interval!("betas[1]", beta2)?;
    non_negative!("weight_decay", weight_decay)
}

/// `x · (1 − lr·λ)`: decoupled weight decay with its factor computed once per step in f64.
#[inline(always)]
pub(crate) fn decoupled_decay<V: Lanes>(p: V, factor: V::Scalar) -> V {
    p * V::splat(factor)
}
