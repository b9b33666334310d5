//! The optimizer layer: parameter groups, owned state, and the [`Optimizer`] enum the builder
//! returns.

use crate::closure::{LbfgsOptimizer, NEEDS_CLOSURE};
use crate::config::{Config, Hyper, apply};
use crate::element::Element;
use crate::error::{Error, check_len};
use crate::group::{ParamGroup, TensorSpec};
use crate::lanes::Real;
use crate::names::{Kind, resolve};
use crate::rules::{
    Adadelta, Adagrad, AdamW, AdamWScheduleFree, AdamWScheduleFreePaper,
    AdamWScheduleFreeReference, Adamax, Asgd, BaseRule, Lion, Mode, NAdam, RAdam,
    RAdamScheduleFree, RmsProp, Rprop, Rule, Schedule, ScheduleFreeWrapper, Sgd, SgdScheduleFree,
    SgdScheduleFreeReference, ShapedRule, SparseAdam, check_lengths,
};
use crate::rules::{Adafactor, Adam, Lbfgs, Muon};
use crate::value::Value;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::ops::Range;

/// Elements of `S` in 64 bytes: each tensor's state starts at a multiple of this.
#[allow(non_snake_case)]
const fn ALIGN_ELEMS<S>() -> usize {
    let size = core::mem::size_of::<S>();
    if size == 0 || size >= 64 {
        1
    } else {
        64 / size
    }
}

/// How [`GroupedOptimizer`] drives a rule: the per-group schedule, and each tensor's shape check,
/// state and workspace sizes and update. Implemented by every elementwise [`Rule`] and every
/// [`ShapedRule`]; sealed.
///
/// The items are associated functions, not methods, so that they never compete with the rules'
/// own methods of the same names (`rule.lr()` stays [`Rule::lr`] or [`ShapedRule::lr`] whatever
/// is imported).
pub trait GroupRule:
    crate::rules::sealed::Sealed + Clone + core::fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// The group's state across steps ([`Rule::Schedule`]; `()` for shaped rules).
    type Schedule: Clone + core::fmt::Debug + PartialEq + Default + Send + Sync + 'static;
    /// Per-step scalars of a group ([`Rule::Scalars`]; `()` for shaped rules).
    type Scalars: Copy + core::fmt::Debug + Send + Sync;
    /// Per-tensor scalars ([`Rule::TensorState`]; `()` for shaped rules).
    type TensorState: Clone + core::fmt::Debug + PartialEq + Default + Send + Sync + 'static;
    /// Workspace element type ([`ShapedRule::Work`]; elementwise rules need none).
    type Work: Copy + Default + core::fmt::Debug + PartialEq + Send + Sync + 'static;

    /// The canonical name.
    fn name(rule: &Self) -> &'static str;
    /// The learning rate.
    fn lr(rule: &Self) -> f64;
    /// The constructor's checks.
    ///
    /// # Errors
    /// As [`Rule::validate`].
    fn validate(rule: &Self) -> Result<(), Error>;
    /// What fixes the state layout besides the shapes (elementwise: the slot count); a
    /// hyperparameter change that alters it is refused ([`Error::Immutable`]).
    fn layout(rule: &Self) -> usize;
    /// Whether tensors of this shape are accepted.
    ///
    /// # Errors
    /// The reason, for [`Error::UnsupportedShape`].
    fn check_shape(rule: &Self, shape: &[usize]) -> Result<(), &'static str>;
    /// State elements of a tensor of this shape and `numel` elements (`None` on overflow).
    fn state_len(rule: &Self, shape: &[usize], numel: usize) -> Option<usize>;
    /// Workspace elements an update of a tensor of this shape needs.
    fn workspace_len(rule: &Self, shape: &[usize]) -> usize;
    /// Starts a step of a group ([`Rule::begin_step`]).
    fn begin_step(rule: &Self, schedule: &mut Self::Schedule) -> Self::Scalars;
    /// Whether every tensor needs a gradient at every step ([`Rule::needs_every_grad`]).
    fn needs_every_grad(rule: &Self) -> bool;
    /// Whether the rule has train/eval modes ([`Rule::has_modes`]).
    fn has_modes(rule: &Self) -> bool;
    /// The initial value of state slot `k` (Adagrad's `initial_accumulator_value`; 0 otherwise).
    fn initial_state(rule: &Self, k: usize) -> f64;
    /// The mode switch of one tensor that has state ([`Rule::switch_mode_with`]).
    #[doc(hidden)]
    fn switch_mode<P, S>(rule: &Self, mode: Mode, p: &mut [P], state: &[S])
    where
        P: Element,
        S: Element<Compute = P::Compute>;
    /// One tensor's update; `step` already counts it, lengths are valid.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn update<P, S>(
        rule: &Self,
        scalars: &Self::Scalars,
        step: u64,
        tensor_state: &mut Self::TensorState,
        shape: &[usize],
        p: &mut [P],
        g: &[P],
        state: &mut [S],
        work: &mut [Self::Work],
    ) where
        P: Element,
        S: Element<Compute = P::Compute>;
}

/// Elementwise rules: state `slots × numel`, no workspace, any shape; the update is the rule's
/// lane kernel over the flat tensor (split across threads with feature `rayon`).
impl<R: Rule> GroupRule for R {
    type Schedule = R::Schedule;
    type Scalars = R::Scalars;
    type TensorState = R::TensorState;
    type Work = ();

    #[inline]
    fn name(rule: &Self) -> &'static str {
        Rule::name(rule)
    }
    #[inline]
    fn lr(rule: &Self) -> f64 {
        Rule::lr(rule)
    }
    #[inline]
    fn validate(rule: &Self) -> Result<(), Error> {
        Rule::validate(rule)
    }
    #[inline]
    fn layout(rule: &Self) -> usize {
        Rule::slots(rule)
    }
    #[inline]
    fn check_shape(_: &Self, _: &[usize]) -> Result<(), &'static str> {
        Ok(())
    }
    #[inline]
    fn state_len(rule: &Self, _: &[usize], numel: usize) -> Option<usize> {
        Rule::slots(rule).checked_mul(numel)
    }
    #[inline]
    fn workspace_len(_: &Self, _: &[usize]) -> usize {
        0
    }
    #[inline]
    fn begin_step(rule: &Self, schedule: &mut Self::Schedule) -> Self::Scalars {
        Rule::begin_step(rule, schedule)
    }
    #[inline]
    fn needs_every_grad(rule: &Self) -> bool {
        Rule::needs_every_grad(rule)
    }
    #[inline]
    fn has_modes(rule: &Self) -> bool {
        Rule::has_modes(rule)
    }
    #[inline]
    fn initial_state(rule: &Self, k: usize) -> f64 {
        Rule::initial_state(rule, k)
    }
    #[inline]
    fn switch_mode<P, S>(rule: &Self, mode: Mode, p: &mut [P], state: &[S])
    where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        rule.switch_mode_with::<P, S, <P::Compute as Real>::Vector>(mode, p, state);
    }
    #[inline]
    fn update<P, S>(
        rule: &Self,
        scalars: &Self::Scalars,
        step: u64,
        tensor_state: &mut Self::TensorState,
        _: &[usize],
        p: &mut [P],
        g: &[P],
        state: &mut [S],
        _: &mut [()],
    ) where
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        let scalars = &rule.begin_tensor(scalars, step, tensor_state);
        #[cfg(feature = "rayon")]
        if p.len() > parallel::CHUNK {
            let mut it = state.chunks_exact_mut(p.len());
            let slots = core::array::from_fn(|_| it.next().unwrap_or_default());
            return parallel::update(rule, scalars, step, p, g, slots);
        }
        rule.update_with::<P, S, <P::Compute as Real>::Vector>(scalars, step, p, g, state);
    }
}

/// Shaped rules: state and workspace sized from the shape; no schedule, modes or per-tensor
/// scalars; one whole-tensor update (never split across threads).
macro_rules! shaped_group_rule {
    ($($ty:ty),*) => {$(
        impl GroupRule for $ty {
            type Schedule = ();
            type Scalars = ();
            type TensorState = ();
            type Work = <$ty as ShapedRule>::Work;

            #[inline]
            fn name(rule: &Self) -> &'static str {
                ShapedRule::name(rule)
            }
            #[inline]
            fn lr(rule: &Self) -> f64 {
                ShapedRule::lr(rule)
            }
            #[inline]
            fn validate(rule: &Self) -> Result<(), Error> {
                ShapedRule::validate(rule)
            }
            #[inline]
            fn layout(_: &Self) -> usize {
                0
            }
            #[inline]
            fn check_shape(rule: &Self, shape: &[usize]) -> Result<(), &'static str> {
                ShapedRule::check_shape(rule, shape)
            }
            #[inline]
            fn state_len(rule: &Self, shape: &[usize], _: usize) -> Option<usize> {
                Some(ShapedRule::state_len(rule, shape)).filter(|&n| n != usize::MAX)
            }
            #[inline]
            fn workspace_len(rule: &Self, shape: &[usize]) -> usize {
                ShapedRule::workspace_len(rule, shape)
            }
            #[inline]
            fn begin_step(_: &Self, _: &mut ()) {}
            #[inline]
            fn needs_every_grad(_: &Self) -> bool {
                false
            }
            #[inline]
            fn has_modes(_: &Self) -> bool {
                false
            }
            #[inline]
            fn initial_state(_: &Self, _: usize) -> f64 {
                0.0
            }
            #[inline]
            fn switch_mode<P, S>(_: &Self, _: Mode, _: &mut [P], _: &[S])
            where
                P: Element,
                S: Element<Compute = P::Compute>,
            {
            }
            #[inline]
            fn update<P, S>(
                rule: &Self,
                _: &(),
                step: u64,
                _: &mut (),
                shape: &[usize],
                p: &mut [P],
                g: &[P],
                state: &mut [S],
                work: &mut [Self::Work],
            ) where
                P: Element,
                S: Element<Compute = P::Compute>,
            {
                rule.update_with::<P, S, <P::Compute as Real>::Vector, <f32 as Real>::Vector>(
                    step, shape, p, g, state, work,
                );
            }
        }
    )*};
}
shaped_group_rule!(Adafactor, Muon);

/// One tensor's bookkeeping: its group, size, state location, step count and per-tensor scalars.
#[derive(Debug, Clone, PartialEq)]
struct TensorSlot<T> {
    spec: TensorSpec,
    group: usize,
    numel: usize,
    state: Range<usize>,
    step: u64,
    scalars: T,
}

/// One rule over parameter groups, with its state in one contiguous buffer.
///
/// `R` holds each group's hyperparameters; the state of tensor `i` is
/// [`Optimizer::state`]: `slots × numel` elements, slot-major, for an elementwise [`Rule`]; the
/// layout a [`ShapedRule`] documents, sized from the tensor's shape, otherwise. All state (and a
/// shaped rule's workspace, sized for the largest tensor) is allocated when the optimizer is
/// built; [`step`](Self::step) allocates nothing.
#[derive(Debug, Clone)]
pub struct GroupedOptimizer<R: GroupRule, P, S> {
    groups: Vec<R>,
    /// Each group's schedule (schedule-free's `k`, `lr_max`, `weight_sum`; `()` otherwise).
    schedules: Vec<R::Schedule>,
    /// The tensors of group `g` are `tensors[members[g]]` (groups are concatenated in order).
    members: Vec<Range<usize>>,
    /// Whether the parameters hold the training or the evaluation sequence.
    mode: Mode,
    tensors: Vec<TensorSlot<R::TensorState>>,
    state: Vec<S>,
    /// `state[layout]` is the state as [`Optimizer::state_buffer`] shows it; `layout.start` is
    /// the alignment offset of this allocation.
    layout: Range<usize>,
    /// Scratch for shaped rules, sized for the largest tensor (empty for elementwise rules).
    work: Vec<R::Work>,
    _params: PhantomData<fn() -> P>,
}

/// Equal hyperparameters, schedules, mode, tensors, step counts and state (wherever each
/// allocation happens to be aligned; the workspace is scratch and not compared).
impl<R: GroupRule, P, S: PartialEq> PartialEq for GroupedOptimizer<R, P, S> {
    fn eq(&self, other: &Self) -> bool {
        let tensor = |a: &TensorSlot<R::TensorState>, b: &TensorSlot<R::TensorState>| {
            (&a.spec, a.group, a.numel, a.step, &a.scalars)
                == (&b.spec, b.group, b.numel, b.step, &b.scalars)
                && self.state.get(a.state.clone()) == other.state.get(b.state.clone())
        };
        self.groups == other.groups
            && self.schedules == other.schedules
            && self.mode == other.mode
            && self.tensors.len() == other.tensors.len()
            && self
                .tensors
                .iter()
                .zip(&other.tensors)
                .all(|(a, b)| tensor(a, b))
    }
}

impl<R, P, S> GroupedOptimizer<R, P, S>
where
    R: GroupRule + Hyper,
    P: Element,
    S: Element<Compute = P::Compute>,
{
    /// Builds from the constructor-level rule (`top`, already validated) and the groups: each
    /// group is `top` with the group's overrides applied, then validated. State slot `k` of every
    /// tensor starts at `top`'s [`Rule::initial_state`]`(k)`.
    fn new(top: &R, groups: &[ParamGroup]) -> Result<Self, Error> {
        if groups.is_empty() {
            return Err(Error::InvalidGroups {
                reason: "optimizer got an empty parameter list".into(),
            });
        }
        let mut rules = Vec::with_capacity(groups.len());
        let mut members = Vec::with_capacity(groups.len());
        let mut tensors = Vec::new();
        let mut total = 0usize;
        let mut work_len = 0usize;
        for (gi, group) in groups.iter().enumerate() {
            let mut rule = top.clone();
            for (k, v) in group.overrides() {
                if k == "params" {
                    return Err(Error::InvalidGroups {
                        reason:
                            "a group's tensors are given by ParamGroup::new, not a `params` key"
                                .into(),
                    });
                }
                rule.set(k, v).map_err(|e| e.in_group(gi))?;
            }
            R::validate(&rule).map_err(|e| e.in_group(gi))?;
            let first = tensors.len();
            for spec in group.tensors() {
                let overflow = || Error::InvalidGroups {
                    reason: alloc::format!("tensor {} is too large", tensors.len()),
                };
                let numel = spec.numel().ok_or_else(overflow)?;
                R::check_shape(&rule, &spec.shape).map_err(|reason| Error::UnsupportedShape {
                    tensor: tensors.len(),
                    reason,
                })?;
                let len = R::state_len(&rule, &spec.shape, numel).ok_or_else(overflow)?;
                work_len = work_len.max(R::workspace_len(&rule, &spec.shape));
                // Each tensor's state starts on a 64-byte boundary (vector loads that split cache
                // lines cost ~25% of streaming bandwidth on large tensors).
                let start = total
                    .checked_next_multiple_of(ALIGN_ELEMS::<S>())
                    .ok_or_else(overflow)?;
                total = start;
                let end = total.checked_add(len).ok_or_else(overflow)?;
                tensors.push(TensorSlot {
                    spec: spec.clone(),
                    group: gi,
                    numel,
                    state: total..end,
                    step: 0,
                    scalars: R::TensorState::default(),
                });
                total = end;
            }
            members.push(first..tensors.len());
            rules.push(rule);
        }
        // A workspace too large to allocate is an error here, not an abort in `vec!`.
        let mut work = Vec::new();
        work.try_reserve_exact(work_len)
            .map_err(|_| Error::InvalidGroups {
                reason: "the optimizer's workspace is too large".into(),
            })?;
        work.resize(work_len, R::Work::default());
        let align = ALIGN_ELEMS::<S>();
        let mut state = vec![
            S::default();
            total
                .checked_add(align)
                .ok_or_else(|| Error::InvalidGroups {
                    reason: "optimizer state is too large".into(),
                })?
        ];
        // Shift every range so that the buffer's first tensor starts 64-byte aligned.
        let base = state.as_ptr().align_offset(64).min(align);
        for t in &mut tensors {
            t.state = t.state.start + base..t.state.end + base;
            // Slot k starts at the constructor-level rule's `initial_state(k)` (the slots are
            // the group's): torch.optim.Adagrad's `__init__` fills `sum` from its
            // `initial_accumulator_value` argument and never reads a group's value.
            if let Some(st) = state.get_mut(t.state.clone())
                && t.numel > 0
            {
                for (k, slot) in st.chunks_exact_mut(t.numel).enumerate() {
                    slot.fill(S::from_f64(R::initial_state(top, k)));
                }
            }
        }
        Ok(GroupedOptimizer {
            schedules: vec![R::Schedule::default(); rules.len()],
            groups: rules,
            members,
            mode: Mode::Train,
            tensors,
            state,
            layout: base..base + total,
            work,
            _params: PhantomData,
        })
    }

    /// The hyperparameters of every group.
    pub fn groups(&self) -> &[R] {
        &self.groups
    }

    /// Number of tensors (groups concatenated in order).
    pub fn num_tensors(&self) -> usize {
        self.tensors.len()
    }

    /// Updates every tensor that has a gradient; `None` skips a tensor (PyTorch's `p.grad is
    /// None`: its step count does not advance). Each group's schedule (schedule-free) advances
    /// once, gradients or not.
    ///
    /// Allocates nothing. Every length is checked before anything is written.
    ///
    /// # Errors
    /// [`Error::Mode`] in evaluation mode; [`Error::TensorCount`] or [`Error::ShapeMismatch`];
    /// the optimizer is unchanged then.
    pub fn step<T, G>(&mut self, params: &mut [T], grads: &[Option<G>]) -> Result<(), Error>
    where
        T: AsMut<[P]>,
        G: AsRef<[P]>,
    {
        self.step_by(params, grads.len(), |i| {
            grads.get(i).and_then(Option::as_ref).map(AsRef::as_ref)
        })
    }

    /// What torch's `step(closure)` does for every optimizer but LBFGS: evaluates the closure
    /// once (it computes the loss at `params` and writes every tensor's gradient into `grads`),
    /// then steps with those gradients (every tensor has one). Returns the closure's loss.
    ///
    /// # Errors
    /// As [`step`](Self::step); the mode and the tensor counts are checked before the closure is
    /// called, the lengths after it (the optimizer is unchanged on any error).
    pub fn step_closure<T, G, F>(
        &mut self,
        params: &mut [T],
        grads: &mut [G],
        mut closure: F,
    ) -> Result<f64, Error>
    where
        T: AsRef<[P]> + AsMut<[P]>,
        G: AsRef<[P]> + AsMut<[P]>,
        F: FnMut(&[T], &mut [G]) -> f64,
    {
        self.check_training("step_closure")?;
        self.check_counts(params.len(), grads.len())?;
        let loss = closure(params, grads);
        self.step_by(params, grads.len(), |i| grads.get(i).map(AsRef::as_ref))?;
        Ok(loss)
    }

    fn check_counts(&self, params: usize, grads: usize) -> Result<(), Error> {
        let n = self.tensors.len();
        if params != n {
            return Err(Error::TensorCount {
                expected: n,
                found: params,
                what: "params",
            });
        }
        if grads != n {
            return Err(Error::TensorCount {
                expected: n,
                found: grads,
                what: "grads",
            });
        }
        Ok(())
    }

    /// [`step`](Self::step) with tensor `i`'s gradient given by `grad(i)` (`None`: no gradient).
    fn step_by<'g, T: AsMut<[P]>>(
        &mut self,
        params: &mut [T],
        n_grads: usize,
        grad: impl Fn(usize) -> Option<&'g [P]>,
    ) -> Result<(), Error> {
        self.check_training("step")?;
        self.check_counts(params.len(), n_grads)?;
        for (i, (t, p)) in self.tensors.iter().zip(params.iter_mut()).enumerate() {
            let g = grad(i);
            let p = p.as_mut();
            check_len(i, "param", t.numel, p.len())?;
            match g {
                Some(g) => check_lengths(i, t.state.len(), p.len(), g.len(), t.state.len())?,
                None if R::needs_every_grad(&self.groups[t.group]) => {
                    return Err(Error::Mode {
                        what: "step",
                        reason: "ScheduleFreeWrapperReference moves every tensor at every step, \
                                 gradient or not, which is not reproduced here: give every \
                                 tensor a gradient, or use ScheduleFreeWrapper",
                    });
                }
                None => {}
            }
        }
        for ((rule, schedule), members) in self
            .groups
            .iter()
            .zip(&mut self.schedules)
            .zip(&self.members)
        {
            let scalars = R::begin_step(rule, schedule);
            let tensors = self.tensors.get_mut(members.clone()).unwrap_or_default();
            let params = params.get_mut(members.clone()).unwrap_or_default();
            for (i, (t, p)) in members.clone().zip(tensors.iter_mut().zip(params)) {
                if let Some(g) = grad(i) {
                    let (state, work) = (&mut self.state, &mut self.work);
                    Self::update(rule, &scalars, t, state, work, p.as_mut(), g);
                }
            }
        }
        Ok(())
    }

    fn check_training(&self, what: &'static str) -> Result<(), Error> {
        if self.mode == Mode::Eval {
            return Err(Error::Mode {
                what,
                reason: "the optimizer is in eval mode (the parameters hold the evaluation \
                         sequence); call train() first",
            });
        }
        Ok(())
    }

    /// Whether the parameters hold the training sequence ([`train`](Self::train) mode, the
    /// initial mode).
    pub fn is_training(&self) -> bool {
        self.mode == Mode::Train
    }

    /// Switches the parameters to the evaluation sequence in place (schedule-free's `eval()`:
    /// `y` → `x`, for every tensor that has been updated), and refuses `step` until
    /// [`train`](Self::train). A no-op on the parameters of rules without modes, and if already in
    /// eval mode.
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`]; nothing is changed then.
    pub fn eval<T: AsMut<[P]>>(&mut self, params: &mut [T]) -> Result<(), Error> {
        self.switch(Mode::Eval, params)
    }

    /// Switches the parameters back to the training sequence in place (schedule-free's
    /// `train()`: `x` → `y`). A no-op if already in train mode.
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`]; nothing is changed then.
    pub fn train<T: AsMut<[P]>>(&mut self, params: &mut [T]) -> Result<(), Error> {
        self.switch(Mode::Train, params)
    }

    fn switch<T: AsMut<[P]>>(&mut self, mode: Mode, params: &mut [T]) -> Result<(), Error> {
        let n = self.tensors.len();
        if params.len() != n {
            return Err(Error::TensorCount {
                expected: n,
                found: params.len(),
                what: "params",
            });
        }
        for (i, (t, p)) in self.tensors.iter().zip(params.iter_mut()).enumerate() {
            let found = p.as_mut().len();
            check_len(i, "param", t.numel, found)?;
        }
        if mode == self.mode {
            return Ok(());
        }
        for (t, p) in self.tensors.iter().zip(params.iter_mut()) {
            let rule = &self.groups[t.group];
            if t.step > 0 && t.numel > 0 && R::has_modes(rule) {
                let st = self.state.get(t.state.clone()).unwrap_or_default();
                R::switch_mode::<P, S>(rule, mode, p.as_mut(), st);
            }
        }
        self.mode = mode;
        Ok(())
    }

    /// The evaluation parameters of tensor `i` (schedule-free: `x`), computed from `param`
    /// (the tensor as the optimizer left it, in the current mode) and the state into `out`,
    /// changing neither: bit for bit what [`eval`](Self::eval) would leave in the parameters.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`], or [`Error::ShapeMismatch`] if `param` or `out` has the
    /// wrong length.
    pub fn eval_params_into(&self, i: usize, param: &[P], out: &mut [P]) -> Result<(), Error> {
        let len = self.tensors.len();
        let t = self.tensors.get(i).ok_or(Error::IndexOutOfRange {
            what: "tensor",
            index: i,
            len,
        })?;
        for (what, found) in [("param", param.len()), ("eval output", out.len())] {
            check_len(i, what, t.numel, found)?;
        }
        out.copy_from_slice(param);
        let rule = &self.groups[t.group];
        if self.mode == Mode::Train && t.step > 0 && t.numel > 0 && R::has_modes(rule) {
            let st = self.state.get(t.state.clone()).unwrap_or_default();
            R::switch_mode::<P, S>(rule, Mode::Eval, out, st);
        }
        Ok(())
    }

    /// The per-tensor scalars of tensor `i` ([`Rule::TensorState`]: NAdam's `mu_product`,
    /// ASGD's `eta` and `mu` for its next update; `()` for other rules), or `None` if out of
    /// range.
    pub fn tensor_state(&self, i: usize) -> Option<&R::TensorState> {
        self.tensors.get(i).map(|t| &t.scalars)
    }

    /// The schedule of `group` (schedule-free: `k`, `lr_max`, `weight_sum`).
    pub fn schedule(&self, group: usize) -> Option<&R::Schedule> {
        self.schedules.get(group)
    }

    /// Replaces the schedule of `group` (restoring a checkpoint).
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`].
    pub fn set_schedule(&mut self, group: usize, schedule: R::Schedule) -> Result<(), Error> {
        let len = self.schedules.len();
        let s = self
            .schedules
            .get_mut(group)
            .ok_or(Error::IndexOutOfRange {
                what: "group",
                index: group,
                len,
            })?;
        *s = schedule;
        Ok(())
    }

    /// Updates one tensor as soon as its gradient is ready (an engine that overlaps the backward
    /// pass with the optimizer). Equivalent to a [`step`](Self::step) in which only this tensor has
    /// a gradient.
    ///
    /// # Errors
    /// [`Error::Mode`] in eval mode or for schedule-free rules (their per-group schedule
    /// advances once per [`step`](Self::step)); [`Error::IndexOutOfRange`] or
    /// [`Error::ShapeMismatch`]; nothing is written then.
    pub fn step_tensor(&mut self, index: usize, param: &mut [P], grad: &[P]) -> Result<(), Error> {
        self.check_training("step_tensor")?;
        if self.groups.first().is_some_and(R::has_modes) {
            return Err(Error::Mode {
                what: "step_tensor",
                reason: "a schedule-free rule advances its per-group schedule once per step(); \
                         use step() with None for the tensors without a gradient",
            });
        }
        let len = self.tensors.len();
        let t = self.tensors.get_mut(index).ok_or(Error::IndexOutOfRange {
            what: "tensor",
            index,
            len,
        })?;
        check_len(index, "param", t.numel, param.len())?;
        check_lengths(index, t.state.len(), param.len(), grad.len(), t.state.len())?;
        let rule = &self.groups[t.group];
        let scalars = R::begin_step(rule, &mut self.schedules[t.group]);
        Self::update(
            rule,
            &scalars,
            t,
            &mut self.state,
            &mut self.work,
            param,
            grad,
        );
        Ok(())
    }

    /// One tensor's update (lengths checked): counts the step, then runs the rule's kernel on
    /// the tensor's state (and the shared workspace).
    #[inline]
    fn update(
        rule: &R,
        scalars: &R::Scalars,
        t: &mut TensorSlot<R::TensorState>,
        state: &mut [S],
        work: &mut [R::Work],
        p: &mut [P],
        g: &[P],
    ) {
        t.step = t.step.saturating_add(1);
        let st = state.get_mut(t.state.clone()).unwrap_or_default();
        let shape = &t.spec.shape;
        R::update(rule, scalars, t.step, &mut t.scalars, shape, p, g, st, work);
    }

    fn group_mut(&mut self, group: usize) -> Result<&mut R, Error> {
        let len = self.groups.len();
        self.groups.get_mut(group).ok_or(Error::IndexOutOfRange {
            what: "group",
            index: group,
            len,
        })
    }

    /// Sets one hyperparameter of one group (type- and range-checked, like the builder).
    ///
    /// # Errors
    /// [`Error::UnknownKey`], [`Error::InvalidType`], [`Error::InvalidValue`],
    /// [`Error::Immutable`] for keys that change the state layout (`amsgrad`, `momentum` to or
    /// from 0), [`Error::IndexOutOfRange`]. The group is unchanged then.
    pub fn set(&mut self, group: usize, key: &str, value: &Value) -> Result<(), Error> {
        let rule = self.group_mut(group)?;
        let mut next = rule.clone();
        next.set(key, value).map_err(|e| e.in_group(group))?;
        R::validate(&next).map_err(|e| e.in_group(group))?;
        if R::layout(&next) != R::layout(rule) {
            return Err(Error::Immutable {
                key: key.to_string(),
            });
        }
        *rule = next;
        Ok(())
    }

    /// One hyperparameter of one group, if the rule has that key.
    pub fn get(&self, group: usize, key: &str) -> Option<Value> {
        self.groups.get(group)?.get(key)
    }
}

/// Row-sparse gradients: SparseAdam's reason to exist.
impl<P, S> GroupedOptimizer<SparseAdam, P, S>
where
    P: Element,
    S: Element<Compute = P::Compute>,
{
    /// Updates tensor `index` from a row-sparse gradient, as PyTorch's `step()` does for a
    /// parameter whose `.grad` is a `sparse_coo_tensor` with `sparse_dim = 1` (what
    /// `nn.Embedding(sparse=True)` produces): only the given rows of the parameter and its state
    /// are read and written, and the tensor's step count advances by one (also for an empty
    /// `rows`, as in torch).
    ///
    /// `rows` index the tensor's first dimension (a row is `numel / shape[0]` elements; a 1-D
    /// tensor's rows are its elements; a 0-D tensor has only row 0) and must be sorted ascending;
    /// repeated rows (adjacent) are summed in order, as torch's `coalesce()` sums them. `values`
    /// holds `rows.len()` rows one after another. Every given entry is present, explicit zeros
    /// included (unlike [`step`](Self::step), where a `±0` entry is absent).
    ///
    /// Allocates nothing. Every check is made before anything is written.
    ///
    /// # Errors
    /// [`Error::Mode`] in eval mode; [`Error::IndexOutOfRange`]; [`Error::ShapeMismatch`] if
    /// `param` is not the tensor's length or `values` is not `rows.len()` rows;
    /// [`Error::InvalidSparseRows`] naming the tensor and the first row index that is out of
    /// range or out of order. The optimizer and `param` are unchanged then.
    ///
    /// # Examples
    /// ```
    /// use optim_kernels::{build_optimizer, Config, Optimizer, ParamGroup};
    /// let groups = [ParamGroup::new([[1000, 16]])]; // an embedding table
    /// let mut opt = build_optimizer::<f32>(&groups, &Config::new("SparseAdam").set("lr", 1e-2))?;
    /// let mut table = vec![0.1f32; 1000 * 16];
    /// let rows = [3, 3, 17]; // token 3 appeared twice in the batch
    /// let values = vec![0.5f32; 3 * 16];
    /// opt.step_sparse(0, &mut table, &rows, &values)?;
    /// assert_eq!(opt.tensor_step(0), Some(1));
    /// assert!(table[3 * 16] < 0.1 && table[0] == 0.1);
    /// # Ok::<(), optim_kernels::Error>(())
    /// ```
    pub fn step_sparse(
        &mut self,
        index: usize,
        param: &mut [P],
        rows: &[usize],
        values: &[P],
    ) -> Result<(), Error> {
        self.check_training("step_sparse")?;
        let len = self.tensors.len();
        let t = self.tensors.get_mut(index).ok_or(Error::IndexOutOfRange {
            what: "tensor",
            index,
            len,
        })?;
        check_len(index, "param", t.numel, param.len())?;
        let row_len = crate::rules::sparse_adam::check_rows(
            index,
            &t.spec.shape,
            param.len(),
            rows,
            values.len(),
            t.state.len(),
        )?;
        let rule = &self.groups[t.group];
        t.step = t.step.saturating_add(1);
        let st = self.state.get_mut(t.state.clone()).unwrap_or_default();
        rule.update_rows_with::<P, S, <P::Compute as Real>::Vector>(
            t.step, row_len, param, rows, values, st,
        );
        Ok(())
    }
}

/// An optimizer built by [`build_optimizer`]: one variant per rule, dispatched by `match` once per
/// call (no `dyn`, no boxing).
///
/// `P` is the parameter/gradient element type, `S` the state element type (by default
/// `P::DefaultState`: `f32` for `f16`/`bf16` parameters, `P` otherwise).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Optimizer<P: Element, S: Element<Compute = P::Compute> = <P as Element>::DefaultState> {
    /// `torch.optim.SGD`.
    Sgd(GroupedOptimizer<Sgd, P, S>),
    /// `torch.optim.Adam`.
    Adam(GroupedOptimizer<Adam, P, S>),
    /// `torch.optim.AdamW`.
    AdamW(GroupedOptimizer<AdamW, P, S>),
    /// `torch.optim.RAdam`.
    RAdam(GroupedOptimizer<RAdam, P, S>),
    /// `torch.optim.Rprop`.
    Rprop(GroupedOptimizer<Rprop, P, S>),
    /// `torch.optim.NAdam`.
    NAdam(GroupedOptimizer<NAdam, P, S>),
    /// `torch.optim.ASGD` ([`Optimizer::state`] of a tensor is its averaged parameters `ax`).
    Asgd(GroupedOptimizer<Asgd, P, S>),
    /// `torch.optim.SparseAdam` (dense gradients: exact zeros are absent; row-sparse gradients
    /// through [`Optimizer::step_sparse`]).
    SparseAdam(GroupedOptimizer<SparseAdam, P, S>),
    /// lion-pytorch `Lion`.
    Lion(GroupedOptimizer<Lion, P, S>),
    /// `torch.optim.RMSprop`.
    RmsProp(GroupedOptimizer<RmsProp, P, S>),
    /// `torch.optim.Adagrad`.
    Adagrad(GroupedOptimizer<Adagrad, P, S>),
    /// `torch.optim.Adadelta`.
    Adadelta(GroupedOptimizer<Adadelta, P, S>),
    /// `torch.optim.Adamax`.
    Adamax(GroupedOptimizer<Adamax, P, S>),
    /// `torch.optim.Adafactor` (shape-aware: factored second moments).
    Adafactor(GroupedOptimizer<Adafactor, P, S>),
    /// `torch.optim.Muon` (shape-aware: 2-D parameters only).
    Muon(GroupedOptimizer<Muon, P, S>),
    /// `schedulefree.SGDScheduleFree`.
    SgdScheduleFree(GroupedOptimizer<SgdScheduleFree, P, S>),
    /// `schedulefree.SGDScheduleFreeReference`.
    SgdScheduleFreeReference(GroupedOptimizer<SgdScheduleFreeReference, P, S>),
    /// `schedulefree.AdamWScheduleFree`.
    AdamWScheduleFree(GroupedOptimizer<AdamWScheduleFree, P, S>),
    /// `schedulefree.AdamWScheduleFreePaper`.
    AdamWScheduleFreePaper(GroupedOptimizer<AdamWScheduleFreePaper, P, S>),
    /// `schedulefree.AdamWScheduleFreeReference`.
    AdamWScheduleFreeReference(GroupedOptimizer<AdamWScheduleFreeReference, P, S>),
    /// `schedulefree.RAdamScheduleFree`.
    RAdamScheduleFree(GroupedOptimizer<RAdamScheduleFree, P, S>),
    /// `schedulefree.ScheduleFreeWrapper` (and `ScheduleFreeWrapperReference`) around a base
    /// rule chosen by the config's `base`.
    ScheduleFreeWrapper(GroupedOptimizer<ScheduleFreeWrapper<BaseRule>, P, S>),
    /// `torch.optim.LBFGS` (closure-driven: [`step_closure`](Optimizer::step_closure); one
    /// parameter group).
    Lbfgs(LbfgsOptimizer<P, S>),
}

/// `dispatch!(self, o => grouped_expr; l => lbfgs_expr)`: one arm per variant.
macro_rules! dispatch {
    ($self:expr, $o:ident => $e:expr; $l:ident => $le:expr) => {
        match $self {
            Optimizer::Sgd($o) => $e,
            Optimizer::Adam($o) => $e,
            Optimizer::AdamW($o) => $e,
            Optimizer::RAdam($o) => $e,
            Optimizer::Rprop($o) => $e,
            Optimizer::NAdam($o) => $e,
            Optimizer::Asgd($o) => $e,
            Optimizer::SparseAdam($o) => $e,
            Optimizer::Lion($o) => $e,
            Optimizer::RmsProp($o) => $e,
            Optimizer::Adagrad($o) => $e,
            Optimizer::Adadelta($o) => $e,
            Optimizer::Adamax($o) => $e,
            Optimizer::Adafactor($o) => $e,
            Optimizer::Muon($o) => $e,
            Optimizer::SgdScheduleFree($o) => $e,
            Optimizer::SgdScheduleFreeReference($o) => $e,
            Optimizer::AdamWScheduleFree($o) => $e,
            Optimizer::AdamWScheduleFreePaper($o) => $e,
            Optimizer::AdamWScheduleFreeReference($o) => $e,
            Optimizer::RAdamScheduleFree($o) => $e,
            Optimizer::ScheduleFreeWrapper($o) => $e,
            Optimizer::Lbfgs($l) => $le,
        }
    };
}

/// Builds the optimizer `config` names over `groups`, with `P::DefaultState` state — the Rust
/// form of a Python codebase's `build_optimizer(param_groups, config)`.
///
/// The config's keys are the reference's keyword arguments with the reference's defaults; each
/// group may override any of them. Everything is validated and all state is allocated here.
///
/// # Errors
/// [`Error::UnknownOptimizer`], [`Error::UnknownKey`], [`Error::InvalidType`],
/// [`Error::InvalidValue`], [`Error::Conflict`], [`Error::InvalidGroups`]; each names the key
/// (and group).
///
/// # Examples
/// ```
/// use optim_kernels::{build_optimizer, Config, ParamGroup};
/// let config = Config::new("AdamW").set("lr", 1e-3).set("weight_decay", 0.05);
/// let groups = [
///     ParamGroup::new([[4, 3]]),                          // weights
///     ParamGroup::new([[4]]).set("weight_decay", 0.0),    // biases: no decay
/// ];
/// let mut opt = build_optimizer::<f32>(&groups, &config)?;
/// let mut params = vec![vec![0.5f32; 12], vec![0.0f32; 4]];
/// let grads = vec![Some(vec![0.1f32; 12]), Some(vec![-0.1f32; 4])];
/// opt.step(&mut params, &grads)?;
/// opt.set_lr(0, 5e-4)?; // what an LR scheduler does
/// # Ok::<(), optim_kernels::Error>(())
/// ```
pub fn build_optimizer<P: Element>(
    groups: &[ParamGroup],
    config: &Config,
) -> Result<Optimizer<P>, Error> {
    Optimizer::build(groups, config)
}

/// The constructor-level rule: defaults, then the config's keys, then `constructed` (what the
/// reference's `__init__` derives from its arguments), then the constructor's checks.
fn top_level<R: GroupRule + Hyper>(
    mut rule: R,
    config: &Config,
    constructed: impl FnOnce(&mut R),
) -> Result<R, Error> {
    if config.get("params").is_some() {
        return Err(Error::InvalidGroups {
            reason: "tensors are given as param groups, not a `params` key".into(),
        });
    }
    apply(&mut rule, config.values())?;
    constructed(&mut rule);
    R::validate(&rule)?;
    Ok(rule)
}

impl<P: Element, S: Element<Compute = P::Compute>> Optimizer<P, S> {
    /// [`build_optimizer`] with an explicit state type `S` (e.g. `bf16` state for `f32` params).
    ///
    /// # Errors
    /// As [`build_optimizer`].
    pub fn build(groups: &[ParamGroup], config: &Config) -> Result<Self, Error> {
        let kind = resolve(config.name()).ok_or_else(|| Error::UnknownOptimizer {
            name: config.name().into(),
        })?;
        fn plain<R>(_: &mut R) {}
        macro_rules! grouped {
            ($variant:ident, $default:expr) => {
                Optimizer::$variant(GroupedOptimizer::new(
                    &top_level($default, config, plain)?,
                    groups,
                )?)
            };
        }
        Ok(match kind {
            Kind::Sgd => grouped!(Sgd, Sgd::DEFAULT),
            Kind::Adam => grouped!(Adam, Adam::ADAM),
            Kind::AdamW => grouped!(AdamW, AdamW::DEFAULT),
            Kind::RAdam => grouped!(RAdam, RAdam::DEFAULT),
            Kind::Rprop => grouped!(Rprop, Rprop::DEFAULT),
            Kind::NAdam => grouped!(NAdam, NAdam::DEFAULT),
            Kind::Asgd => grouped!(Asgd, Asgd::DEFAULT),
            Kind::SparseAdam => grouped!(SparseAdam, SparseAdam::DEFAULT),
            // lion-pytorch keeps the constructor's lr as `_init_lr` for `decoupled_weight_decay`.
            Kind::Lion => Optimizer::Lion(GroupedOptimizer::new(
                &top_level(Lion::DEFAULT, config, |r| r.init_lr = r.lr)?,
                groups,
            )?),
            Kind::RmsProp => Optimizer::RmsProp(GroupedOptimizer::new(
                &top_level(RmsProp::DEFAULT, config, plain)?,
                groups,
            )?),
            Kind::Adagrad => Optimizer::Adagrad(GroupedOptimizer::new(
                &top_level(Adagrad::DEFAULT, config, plain)?,
                groups,
            )?),
            Kind::Adadelta => Optimizer::Adadelta(GroupedOptimizer::new(
                &top_level(Adadelta::DEFAULT, config, plain)?,
                groups,
            )?),
            Kind::Adamax => Optimizer::Adamax(GroupedOptimizer::new(
                &top_level(Adamax::DEFAULT, config, plain)?,
                groups,
            )?),
            Kind::Adafactor => grouped!(Adafactor, Adafactor::DEFAULT),
            Kind::Muon => grouped!(Muon, Muon::DEFAULT),
            Kind::SgdScheduleFree => grouped!(SgdScheduleFree, SgdScheduleFree::DEFAULT),
            Kind::SgdScheduleFreeReference => {
                grouped!(SgdScheduleFreeReference, SgdScheduleFreeReference::DEFAULT)
            }
            Kind::AdamWScheduleFree => grouped!(AdamWScheduleFree, AdamWScheduleFree::DEFAULT),
            Kind::AdamWScheduleFreePaper => {
                grouped!(AdamWScheduleFreePaper, AdamWScheduleFreePaper::DEFAULT)
            }
            Kind::AdamWScheduleFreeReference => {
                grouped!(
                    AdamWScheduleFreeReference,
                    AdamWScheduleFreeReference::DEFAULT
                )
            }
            Kind::RAdamScheduleFree => grouped!(RAdamScheduleFree, RAdamScheduleFree::DEFAULT),
            Kind::ScheduleFreeWrapper | Kind::ScheduleFreeWrapperReference => {
                let reference = kind == Kind::ScheduleFreeWrapperReference;
                Optimizer::ScheduleFreeWrapper(GroupedOptimizer::new(
                    &wrapper(config, reference)?,
                    groups,
                )?)
            }
            Kind::Lbfgs => Optimizer::Lbfgs(crate::closure::build(groups, config)?),
            Kind::Unsupported(reason) => {
                return Err(Error::Conflict {
                    key: "name",
                    reason,
                    group: None,
                });
            }
        })
    }

    /// The canonical name of the rule (`"AdamW"`, `"Lion"`, ...).
    pub fn name(&self) -> &'static str {
        dispatch!(self, o => o.groups.first().map_or("", GroupRule::name); l => l.rule().name())
    }

    /// One step over all tensors: see [`GroupedOptimizer::step`].
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`]; the optimizer is unchanged then.
    /// [`Error::Mode`] for LBFGS, which needs a closure ([`step_closure`](Self::step_closure)).
    #[inline]
    pub fn step<T: AsMut<[P]>, G: AsRef<[P]>>(
        &mut self,
        params: &mut [T],
        grads: &[Option<G>],
    ) -> Result<(), Error> {
        dispatch!(self, o => o.step(params, grads); l => { let _ = l; Err(Error::Mode { what: "step", reason: NEEDS_CLOSURE }) })
    }

    /// One tensor's update: see [`GroupedOptimizer::step_tensor`].
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] or [`Error::ShapeMismatch`]; nothing is written then.
    #[inline]
    pub fn step_tensor(&mut self, index: usize, param: &mut [P], grad: &[P]) -> Result<(), Error> {
        dispatch!(self, o => o.step_tensor(index, param, grad); l => { let _ = l; Err(Error::Mode { what: "step_tensor", reason: NEEDS_CLOSURE }) })
    }

    /// torch's `optimizer.step(closure)`: `closure(params, grads)` computes the loss at `params`
    /// and writes every tensor's gradient into `grads` (zeros for a tensor without one), like a
    /// Python closure that calls `backward()`. Returns the loss of the first evaluation.
    ///
    /// LBFGS re-evaluates the closure up to `max_eval` times per step ([`Lbfgs::step`]); every
    /// other optimizer evaluates it once, then steps with the gradients it wrote, as torch does.
    /// Allocates nothing.
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`] (the optimizer is unchanged then), as
    /// [`step`](Self::step) for the other optimizers; LBFGS checks every length before the
    /// closure is called, and fails with [`Error::ShapeMismatch`] if the closure changes one.
    ///
    /// # Examples
    /// ```
    /// use optim_kernels::{build_optimizer, Config, ParamGroup};
    /// // minimize (x - 3)² + (y + 1)² with L-BFGS and the strong-Wolfe line search
    /// let config = Config::new("LBFGS").set("line_search_fn", "strong_wolfe");
    /// let mut opt = build_optimizer::<f64>(&[ParamGroup::new([[1], [1]])], &config)?;
    /// let mut params = vec![vec![0.0f64], vec![0.0]];
    /// let mut grads = vec![vec![0.0f64], vec![0.0]];
    /// let loss = opt.step_closure(&mut params, &mut grads, |p, g| {
    ///     let (a, b) = (p[0][0] - 3.0, p[1][0] + 1.0);
    ///     (g[0][0], g[1][0]) = (2.0 * a, 2.0 * b);
    ///     a * a + b * b
    /// })?;
    /// assert_eq!(loss, 10.0);
    /// assert!((params[0][0] - 3.0).abs() < 1e-9 && (params[1][0] + 1.0).abs() < 1e-9);
    /// # Ok::<(), optim_kernels::Error>(())
    /// ```
    #[inline]
    pub fn step_closure<T, G, F>(
        &mut self,
        params: &mut [T],
        grads: &mut [G],
        closure: F,
    ) -> Result<f64, Error>
    where
        T: AsRef<[P]> + AsMut<[P]>,
        G: AsRef<[P]> + AsMut<[P]>,
        F: FnMut(&[T], &mut [G]) -> f64,
    {
        dispatch!(self, o => o.step_closure(params, grads, closure); l => l.step_closure(params, grads, closure))
    }

    /// The LBFGS optimizer, if this is one (its buffer and scalar state).
    pub fn as_lbfgs(&self) -> Option<&LbfgsOptimizer<P, S>> {
        match self {
            Optimizer::Lbfgs(l) => Some(l),
            _ => None,
        }
    }

    /// One tensor's update from a row-sparse gradient: see [`GroupedOptimizer::step_sparse`].
    /// Only SparseAdam takes sparse gradients, as in PyTorch.
    ///
    /// # Errors
    /// [`Error::Mode`] for every other optimizer; otherwise as
    /// [`GroupedOptimizer::step_sparse`]. Nothing is written then.
    #[inline]
    pub fn step_sparse(
        &mut self,
        index: usize,
        param: &mut [P],
        rows: &[usize],
        values: &[P],
    ) -> Result<(), Error> {
        match self {
            Optimizer::SparseAdam(o) => o.step_sparse(index, param, rows, values),
            _ => Err(Error::Mode {
                what: "step_sparse",
                reason: "only SparseAdam takes sparse gradients (as in torch.optim); give this \
                         optimizer dense gradients with step() or step_tensor()",
            }),
        }
    }

    /// Number of parameter groups.
    pub fn num_groups(&self) -> usize {
        dispatch!(self, o => o.groups.len(); l => { let _ = l; 1 })
    }

    /// Number of tensors (groups concatenated in order).
    pub fn num_tensors(&self) -> usize {
        dispatch!(self, o => o.tensors.len(); l => l.num_tensors())
    }

    /// The learning rate of `group`, or `None` if there is no such group.
    pub fn lr(&self, group: usize) -> Option<f64> {
        dispatch!(self, o => o.groups.get(group).map(GroupRule::lr); l => l.lr(group))
    }

    /// Sets the learning rate of `group` (what an LR scheduler does between steps).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for a negative, infinite or NaN lr; [`Error::IndexOutOfRange`].
    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), Error> {
        self.set(group, "lr", &Value::Float(lr))
    }

    /// One hyperparameter of one group by its reference name, if the rule has it.
    pub fn get(&self, group: usize, key: &str) -> Option<Value> {
        dispatch!(self, o => o.get(group, key); l => l.get(group, key))
    }

    /// Sets one hyperparameter of one group: see [`GroupedOptimizer::set`].
    ///
    /// # Errors
    /// As [`GroupedOptimizer::set`].
    pub fn set(&mut self, group: usize, key: &str, value: &Value) -> Result<(), Error> {
        dispatch!(self, o => o.set(group, key, value); l => l.set(group, key, value))
    }

    /// The step count of tensor `i` (updates it has received), or `None` if out of range.
    pub fn tensor_step(&self, i: usize) -> Option<u64> {
        dispatch!(self, o => o.tensors.get(i).map(|t| t.step); l => l.tensor_step(i))
    }

    /// The group index of tensor `i`.
    pub fn tensor_group(&self, i: usize) -> Option<usize> {
        dispatch!(self, o => o.tensors.get(i).map(|t| t.group); l => l.tensor_group(i))
    }

    /// The spec (shape, name) of tensor `i`.
    pub fn tensor_spec(&self, i: usize) -> Option<&TensorSpec> {
        dispatch!(self, o => o.tensors.get(i).map(|t| &t.spec); l => l.tensor_spec(i))
    }

    /// The state of tensor `i`: `slots × numel` elements, slot-major (e.g. Adam: `exp_avg` then
    /// `exp_avg_sq`); for a shape-aware rule, the layout it documents (e.g. Adafactor's row then
    /// column factors).
    pub fn state(&self, i: usize) -> Option<&[S]> {
        dispatch!(self, o => o.tensors.get(i).and_then(|t| o.state.get(t.state.clone())); l => { let _ = (l, i); None })
    }

    /// The whole state buffer: every tensor's state in tensor order, each tensor's starting at a
    /// multiple of 64 bytes (the gaps are zero and never read; the layout depends only on the
    /// groups, so a buffer saved from one optimizer restores into another built the same way).
    /// Use [`state`](Self::state) for one tensor.
    pub fn state_buffer(&self) -> &[S] {
        dispatch!(self, o => o.state.get(o.layout.clone()).unwrap_or_default(); l => { let _ = l; &[] })
    }

    /// Mutable access to the whole state buffer (e.g. to restore a checkpoint).
    pub fn state_buffer_mut(&mut self) -> &mut [S] {
        dispatch!(self, o => o.state.get_mut(o.layout.clone()).unwrap_or_default(); l => { let _ = l; &mut [] })
    }

    /// The evaluation parameters of tensor `i` written into `out`, changing nothing: see
    /// [`GroupedOptimizer::eval_params_into`]. For rules without modes, a copy of `param`.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`], or [`Error::ShapeMismatch`] if `param` or `out` has the wrong length.
    pub fn eval_params_into(&self, i: usize, param: &[P], out: &mut [P]) -> Result<(), Error> {
        dispatch!(self, o => o.eval_params_into(i, param, out); l => l.eval_params_into(i, param, out))
    }

    /// Switches the parameters to evaluation mode: see [`GroupedOptimizer::eval`].
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`]; nothing is changed then.
    pub fn eval<T: AsMut<[P]>>(&mut self, params: &mut [T]) -> Result<(), Error> {
        dispatch!(self, o => o.eval(params); l => l.switch(params))
    }

    /// Switches the parameters back to training mode: see [`GroupedOptimizer::train`].
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`]; nothing is changed then.
    pub fn train<T: AsMut<[P]>>(&mut self, params: &mut [T]) -> Result<(), Error> {
        dispatch!(self, o => o.train(params); l => l.switch(params))
    }

    /// Whether the optimizer is in training mode (the initial mode).
    pub fn is_training(&self) -> bool {
        dispatch!(self, o => o.is_training(); l => { let _ = l; true })
    }

    /// Whether the rule keeps separate training and evaluation parameters (schedule-free).
    pub fn has_modes(&self) -> bool {
        dispatch!(self, o => o.groups.first().is_some_and(GroupRule::has_modes); l => { let _ = l; false })
    }

    /// The schedule-free schedule of `group` (`k`, `lr_max`, `weight_sum`), or `None` for other
    /// rules or an out-of-range group.
    pub fn schedule(&self, group: usize) -> Option<Schedule> {
        match self {
            Optimizer::SgdScheduleFree(o) => o.schedule(group).copied(),
            Optimizer::SgdScheduleFreeReference(o) => o.schedule(group).copied(),
            Optimizer::AdamWScheduleFree(o) => o.schedule(group).copied(),
            Optimizer::AdamWScheduleFreePaper(o) => o.schedule(group).copied(),
            Optimizer::AdamWScheduleFreeReference(o) => o.schedule(group).copied(),
            Optimizer::RAdamScheduleFree(o) => o.schedule(group).copied(),
            Optimizer::ScheduleFreeWrapper(o) => o.schedule(group).copied(),
            Optimizer::Sgd(_)
            | Optimizer::Adam(_)
            | Optimizer::AdamW(_)
            | Optimizer::Lion(_)
            | Optimizer::RmsProp(_)
            | Optimizer::Adagrad(_)
            | Optimizer::Adadelta(_)
            | Optimizer::Adamax(_)
            | Optimizer::RAdam(_)
            | Optimizer::Rprop(_)
            | Optimizer::NAdam(_)
            | Optimizer::Asgd(_)
            | Optimizer::SparseAdam(_) => None,
            Optimizer::Adafactor(_) | Optimizer::Muon(_) => None,
            Optimizer::Lbfgs(_) => None,
        }
    }
}

/// The wrapper's own keys (its constructor's keyword arguments besides `base`).
const WRAPPER_KEYS: &[&str] = &[
    "base",
    "momentum",
    "weight_decay_at_y",
    "r",
    "weight_lr_power",
];

/// `ScheduleFreeWrapper(base, ...)` from `{name, base: {name, ...}, momentum, ...}`.
fn wrapper(config: &Config, reference: bool) -> Result<ScheduleFreeWrapper<BaseRule>, Error> {
    let name = if reference {
        "ScheduleFreeWrapperReference"
    } else {
        "ScheduleFreeWrapper"
    };
    let base = config.get("base").ok_or(Error::Conflict {
        key: "base",
        reason: "the wrapper needs the base optimizer's config, e.g. base: {name: \"SGD\", lr: 0.1}",
        group: None,
    })?;
    let base = Config::from_dict(base).ok_or_else(|| Error::InvalidType {
        key: "base".into(),
        expected: "a dict with a string `name` (the base optimizer's config)",
        group: None,
    })?;
    let kind = resolve(base.name()).ok_or_else(|| Error::UnknownOptimizer {
        name: base.name().into(),
    })?;
    fn plain<R>(_: &mut R) {}
    let base = match kind {
        Kind::Sgd => BaseRule::Sgd(top_level(Sgd::DEFAULT, &base, plain)?),
        Kind::Adam => BaseRule::Adam(top_level(Adam::ADAM, &base, plain)?),
        Kind::AdamW => BaseRule::AdamW(top_level(AdamW::DEFAULT, &base, plain)?),
        Kind::Lion => BaseRule::Lion(top_level(Lion::DEFAULT, &base, |r| r.init_lr = r.lr)?),
        Kind::RmsProp => BaseRule::RmsProp(top_level(RmsProp::DEFAULT, &base, plain)?),
        Kind::Adagrad => BaseRule::Adagrad(top_level(Adagrad::DEFAULT, &base, plain)?),
        Kind::Adadelta => BaseRule::Adadelta(top_level(Adadelta::DEFAULT, &base, plain)?),
        Kind::Adamax => BaseRule::Adamax(top_level(Adamax::DEFAULT, &base, plain)?),
        Kind::Adafactor | Kind::Muon => {
            return Err(Error::Conflict {
                key: "base",
                reason: "the wrapper fuses its averaging into the base rule's elementwise kernel; \
                         Adafactor and Muon are shape-aware (per-tensor reductions, matrix \
                         products) and cannot be wrapped",
                group: None,
            });
        }
        Kind::RAdam => BaseRule::RAdam(top_level(RAdam::DEFAULT, &base, plain)?),
        Kind::Rprop => BaseRule::Rprop(top_level(Rprop::DEFAULT, &base, plain)?),
        Kind::NAdam | Kind::Asgd => {
            return Err(Error::Conflict {
                key: "base",
                reason: "NAdam and ASGD keep per-tensor scalars (mu_product; eta and mu), which \
                         the wrapper's fused kernel does not carry; wrap a rule without them \
                         (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, RAdam, Rprop, Lion)",
                group: None,
            });
        }
        Kind::SparseAdam => {
            return Err(Error::Conflict {
                key: "base",
                reason: "SparseAdam updates only the entries present in a sparse gradient, while \
                         the wrapper averages and interpolates every entry at every step; wrap \
                         a dense rule (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, \
                         RAdam, Rprop, Lion)",
                group: None,
            });
        }
        _ => {
            return Err(Error::Conflict {
                key: "base",
                reason: "the base must be a plain rule (not schedule-free or a wrapper)",
                group: None,
            });
        }
    };
    let mut w = ScheduleFreeWrapper::new(base);
    w.reference = reference;
    for (k, v) in config.values() {
        match k {
            "base" => {}
            "momentum" => w.momentum = v.as_number(k)?,
            "weight_decay_at_y" => w.weight_decay_at_y = v.as_number(k)?,
            "r" => w.r = v.as_number(k)?,
            "weight_lr_power" => w.weight_lr_power = v.as_number(k)?,
            _ => {
                return Err(Error::UnknownKey {
                    optimizer: name,
                    key: k.to_string(),
                    group: None,
                });
            }
        }
    }
    w.validate()?;
    Ok(w)
}

/// Group overrides and `get`/`set` reach the base rule: schedulefree's wrapper reads the base
/// optimizer's param groups.
impl Hyper for ScheduleFreeWrapper<BaseRule> {
    fn keys(&self) -> &'static [&'static str] {
        self.base.keys()
    }
    fn get(&self, key: &str) -> Option<Value> {
        self.base.get(key)
    }
    fn set(&mut self, key: &str, value: &Value) -> Result<(), Error> {
        self.base.set(key, value)
    }
}

/// The reference defaults of optimizer `name`: every key it accepts with its default value (the
/// canonical name in [`Config::name`]), or `None` for an unknown name.
///
/// # Examples
/// ```
/// use optim_kernels::{optimizer_defaults, Value};
/// let lion = optimizer_defaults("lion").unwrap();
/// assert_eq!(lion.name(), "Lion");
/// assert_eq!(lion.get("lr"), Some(&Value::Float(1e-4)));
/// ```
pub fn optimizer_defaults(name: &str) -> Option<Config> {
    fn all<R: GroupRule + Hyper>(r: R) -> Config {
        let mut c = Config::new(R::name(&r));
        for key in r.keys() {
            if let Some(v) = r.get(key) {
                c.insert(*key, v);
            }
        }
        c
    }
    Some(match resolve(name)? {
        Kind::Sgd => all(Sgd::DEFAULT),
        Kind::Adam => all(Adam::ADAM),
        Kind::AdamW => all(AdamW::DEFAULT),
        Kind::RAdam => all(RAdam::DEFAULT),
        Kind::Rprop => all(Rprop::DEFAULT),
        Kind::NAdam => all(NAdam::DEFAULT),
        Kind::Asgd => all(Asgd::DEFAULT),
        Kind::SparseAdam => all(SparseAdam::DEFAULT),
        Kind::Lion => all(Lion::DEFAULT),
        Kind::RmsProp => all(RmsProp::DEFAULT),
        Kind::Adagrad => all(Adagrad::DEFAULT),
        Kind::Adadelta => all(Adadelta::DEFAULT),
        Kind::Adamax => all(Adamax::DEFAULT),
        Kind::Adafactor => all(Adafactor::DEFAULT),
        Kind::Muon => all(Muon::DEFAULT),
        Kind::SgdScheduleFree => all(SgdScheduleFree::DEFAULT),
        Kind::SgdScheduleFreeReference => all(SgdScheduleFreeReference::DEFAULT),
        Kind::AdamWScheduleFree => all(AdamWScheduleFree::DEFAULT),
        Kind::AdamWScheduleFreePaper => all(AdamWScheduleFreePaper::DEFAULT),
        Kind::AdamWScheduleFreeReference => all(AdamWScheduleFreeReference::DEFAULT),
        Kind::RAdamScheduleFree => all(RAdamScheduleFree::DEFAULT),
        Kind::Lbfgs => {
            let r = Lbfgs::DEFAULT;
            let mut c = Config::new(r.name());
            for key in r.keys() {
                if let Some(v) = r.get(key) {
                    c.insert(*key, v);
                }
            }
            c
        }
        kind @ (Kind::ScheduleFreeWrapper | Kind::ScheduleFreeWrapperReference) => {
            // No default base: `base` must be given.
            let w = ScheduleFreeWrapper::new(BaseRule::Sgd(Sgd::DEFAULT));
            let mut c = Config::new(if kind == Kind::ScheduleFreeWrapper {
                "ScheduleFreeWrapper"
            } else {
                "ScheduleFreeWrapperReference"
            });
            c.insert("momentum", w.momentum);
            c.insert("weight_decay_at_y", w.weight_decay_at_y);
            c.insert("r", w.r);
            c.insert("weight_lr_power", w.weight_lr_power);
            c
        }
        Kind::Unsupported(_) => return None,
    })
}

/// Names of all keys `name` accepts (for help texts and tools), or `None` for an unknown name.
pub fn optimizer_keys(name: &str) -> Option<&'static [&'static str]> {
    Some(match resolve(name)? {
        Kind::Sgd => Sgd::DEFAULT.keys(),
        Kind::Adam => Adam::ADAM.keys(),
        Kind::AdamW => AdamW::DEFAULT.keys(),
        Kind::RAdam => RAdam::DEFAULT.keys(),
        Kind::Rprop => Rprop::DEFAULT.keys(),
        Kind::NAdam => NAdam::DEFAULT.keys(),
        Kind::Asgd => Asgd::DEFAULT.keys(),
        Kind::SparseAdam => SparseAdam::DEFAULT.keys(),
        Kind::Lion => Lion::DEFAULT.keys(),
        Kind::RmsProp => RmsProp::DEFAULT.keys(),
        Kind::Adagrad => Adagrad::DEFAULT.keys(),
        Kind::Adadelta => Adadelta::DEFAULT.keys(),
        Kind::Adamax => Adamax::DEFAULT.keys(),
        Kind::Adafactor => Adafactor::DEFAULT.keys(),
        Kind::Muon => Muon::DEFAULT.keys(),
        Kind::SgdScheduleFree => SgdScheduleFree::DEFAULT.keys(),
        Kind::SgdScheduleFreeReference => SgdScheduleFreeReference::DEFAULT.keys(),
        Kind::AdamWScheduleFree => AdamWScheduleFree::DEFAULT.keys(),
        Kind::AdamWScheduleFreePaper => AdamWScheduleFreePaper::DEFAULT.keys(),
        Kind::AdamWScheduleFreeReference => AdamWScheduleFreeReference::DEFAULT.keys(),
        Kind::RAdamScheduleFree => RAdamScheduleFree::DEFAULT.keys(),
        Kind::Lbfgs => Lbfgs::DEFAULT.keys(),
        Kind::ScheduleFreeWrapper | Kind::ScheduleFreeWrapperReference => WRAPPER_KEYS,
        Kind::Unsupported(_) => return None,
    })
}

/// Feature `rayon`: a large tensor is split into chunks updated on rayon's thread pool. Every
/// element's update is independent of the others and of where a chunk starts, so the result is
/// the single-thread result, bit for bit (NaN payloads aside).
#[cfg(feature = "rayon")]
mod parallel {
    use crate::element::{BLOCK, Element};
    use crate::lanes::Real;
    use crate::rules::{MAX_SLOTS, Rule, Slots};

    /// Elements per task: 64 Ki elements (256 KiB per f32 stream) stay within L2 beside the
    /// other streams, and are enough work to amortise a task.
    pub(super) const CHUNK: usize = 1 << 16;

    pub(super) fn update<R, P, S>(
        rule: &R,
        scalars: &R::Scalars,
        step: u64,
        p: &mut [P],
        g: &[P],
        slots: Slots<'_, S>,
    ) where
        R: Rule,
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        if p.len() <= CHUNK {
            rule.update_slots_with::<P, S, <P::Compute as Real>::Vector>(
                scalars, step, p, g, slots,
            );
            return;
        }
        // Split near the middle, on a block boundary.
        let mid = (p.len() / 2).next_multiple_of(BLOCK).min(p.len());
        let (pl, pr) = p.split_at_mut(mid);
        let (gl, gr) = g.split_at(mid.min(g.len()));
        let mut left: [&mut [S]; MAX_SLOTS] = Default::default();
        let mut right: [&mut [S]; MAX_SLOTS] = Default::default();
        for ((slot, l), r) in slots.into_iter().zip(&mut left).zip(&mut right) {
            if !slot.is_empty() {
                (*l, *r) = slot.split_at_mut(mid.min(slot.len()));
            }
        }
        rayon::join(
            || update(rule, scalars, step, pl, gl, left),
            || update(rule, scalars, step, pr, gr, right),
        );
    }
}
