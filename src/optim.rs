//! The optimizer layer: parameter groups, owned state, and the [`Optimizer`] enum the builder
//! returns.

use crate::config::{Config, Hyper, apply};
use crate::element::Element;
use crate::error::Error;
use crate::group::{ParamGroup, TensorSpec};
use crate::lanes::Real;
use crate::names::{Kind, resolve};
use crate::rules::{Adam, AdamW, Lion, Rule, Sgd, check_lengths};
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

/// One tensor's bookkeeping: its group, size, state location and step count.
#[derive(Debug, Clone, PartialEq)]
struct TensorSlot {
    spec: TensorSpec,
    group: usize,
    numel: usize,
    state: Range<usize>,
    step: u64,
}

/// One rule over parameter groups, with its state in one contiguous buffer.
///
/// `R` holds each group's hyperparameters; the state of tensor `i` is
/// [`Optimizer::state`]: `slots × numel` elements, slot-major. All state is allocated when the
/// optimizer is built; [`step`](Self::step) allocates nothing.
#[derive(Debug, Clone)]
pub struct GroupedOptimizer<R, P, S> {
    groups: Vec<R>,
    tensors: Vec<TensorSlot>,
    state: Vec<S>,
    /// `state[layout]` is the state as [`Optimizer::state_buffer`] shows it; `layout.start` is
    /// the alignment offset of this allocation.
    layout: Range<usize>,
    _params: PhantomData<fn() -> P>,
}

/// Equal hyperparameters, tensors, step counts and state (wherever each allocation happens to
/// be aligned).
impl<R: PartialEq, P, S: PartialEq> PartialEq for GroupedOptimizer<R, P, S> {
    fn eq(&self, other: &Self) -> bool {
        let tensor = |a: &TensorSlot, b: &TensorSlot| {
            (&a.spec, a.group, a.numel, a.step) == (&b.spec, b.group, b.numel, b.step)
                && self.state.get(a.state.clone()) == other.state.get(b.state.clone())
        };
        self.groups == other.groups
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
    R: Rule + Hyper,
    P: Element,
    S: Element<Compute = P::Compute>,
{
    /// Builds from the constructor-level rule (`top`, already validated) and the groups: each
    /// group is `top` with the group's overrides applied, then validated.
    fn new(top: &R, groups: &[ParamGroup]) -> Result<Self, Error> {
        if groups.is_empty() {
            return Err(Error::InvalidGroups {
                reason: "optimizer got an empty parameter list".into(),
            });
        }
        let mut rules = Vec::with_capacity(groups.len());
        let mut tensors = Vec::new();
        let mut total = 0usize;
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
            rule.validate().map_err(|e| e.in_group(gi))?;
            for spec in group.tensors() {
                let overflow = || Error::InvalidGroups {
                    reason: alloc::format!("tensor {} is too large", tensors.len()),
                };
                let numel = spec.numel().ok_or_else(overflow)?;
                let len = rule.slots().checked_mul(numel).ok_or_else(overflow)?;
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
                });
                total = end;
            }
            rules.push(rule);
        }
        let align = ALIGN_ELEMS::<S>();
        let state = vec![
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
        }
        Ok(GroupedOptimizer {
            groups: rules,
            tensors,
            state,
            layout: base..base + total,
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
    /// None`: its step count does not advance).
    ///
    /// Allocates nothing. Every length is checked before anything is written.
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`]; the optimizer is unchanged then.
    pub fn step<T, G>(&mut self, params: &mut [T], grads: &[Option<G>]) -> Result<(), Error>
    where
        T: AsMut<[P]>,
        G: AsRef<[P]>,
    {
        let n = self.tensors.len();
        if params.len() != n {
            return Err(Error::TensorCount {
                expected: n,
                found: params.len(),
                what: "params",
            });
        }
        if grads.len() != n {
            return Err(Error::TensorCount {
                expected: n,
                found: grads.len(),
                what: "grads",
            });
        }
        for (i, ((t, p), g)) in self
            .tensors
            .iter()
            .zip(params.iter_mut())
            .zip(grads)
            .enumerate()
        {
            let p = p.as_mut();
            if p.len() != t.numel {
                return Err(Error::ShapeMismatch {
                    tensor: i,
                    what: "param",
                    expected: t.numel,
                    found: p.len(),
                });
            }
            if let Some(g) = g {
                check_lengths(i, t.state.len(), p.len(), g.as_ref().len(), t.state.len())?;
            }
        }
        for ((t, p), g) in self.tensors.iter_mut().zip(params.iter_mut()).zip(grads) {
            if let Some(g) = g {
                Self::update(
                    &self.groups[t.group],
                    t,
                    &mut self.state,
                    p.as_mut(),
                    g.as_ref(),
                );
            }
        }
        Ok(())
    }

    /// Updates one tensor as soon as its gradient is ready (an engine that overlaps the backward
    /// pass with the optimizer). Equivalent to a [`step`](Self::step) in which only this tensor has
    /// a gradient.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] or [`Error::ShapeMismatch`]; nothing is written then.
    pub fn step_tensor(&mut self, index: usize, param: &mut [P], grad: &[P]) -> Result<(), Error> {
        let len = self.tensors.len();
        let t = self.tensors.get_mut(index).ok_or(Error::IndexOutOfRange {
            what: "tensor",
            index,
            len,
        })?;
        if param.len() != t.numel {
            return Err(Error::ShapeMismatch {
                tensor: index,
                what: "param",
                expected: t.numel,
                found: param.len(),
            });
        }
        check_lengths(index, t.state.len(), param.len(), grad.len(), t.state.len())?;
        Self::update(&self.groups[t.group], t, &mut self.state, param, grad);
        Ok(())
    }

    #[inline]
    fn update(rule: &R, t: &mut TensorSlot, state: &mut [S], p: &mut [P], g: &[P]) {
        t.step = t.step.saturating_add(1);
        let st = state.get_mut(t.state.clone()).unwrap_or_default();
        #[cfg(feature = "rayon")]
        if p.len() > parallel::CHUNK {
            let mut it = st.chunks_exact_mut(p.len());
            let slots = core::array::from_fn(|_| it.next().unwrap_or_default());
            return parallel::update(rule, t.step, p, g, slots);
        }
        rule.update_with::<P, S, <P::Compute as Real>::Vector>(t.step, p, g, st);
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
        next.validate().map_err(|e| e.in_group(group))?;
        if next.slots() != rule.slots() {
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
    /// lion-pytorch `Lion`.
    Lion(GroupedOptimizer<Lion, P, S>),
}

macro_rules! dispatch {
    ($self:expr, $o:ident => $e:expr) => {
        match $self {
            Optimizer::Sgd($o) => $e,
            Optimizer::Adam($o) => $e,
            Optimizer::AdamW($o) => $e,
            Optimizer::Lion($o) => $e,
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
fn top_level<R: Rule + Hyper>(
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
    rule.validate()?;
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
        Ok(match kind {
            Kind::Sgd => Optimizer::Sgd(GroupedOptimizer::new(
                &top_level(Sgd::DEFAULT, config, plain)?,
                groups,
            )?),
            Kind::Adam => Optimizer::Adam(GroupedOptimizer::new(
                &top_level(Adam::ADAM, config, plain)?,
                groups,
            )?),
            Kind::AdamW => Optimizer::AdamW(GroupedOptimizer::new(
                &top_level(AdamW::DEFAULT, config, plain)?,
                groups,
            )?),
            // lion-pytorch keeps the constructor's lr as `_init_lr` for `decoupled_weight_decay`.
            Kind::Lion => Optimizer::Lion(GroupedOptimizer::new(
                &top_level(Lion::DEFAULT, config, |r| r.init_lr = r.lr)?,
                groups,
            )?),
        })
    }

    /// The canonical name of the rule (`"AdamW"`, `"Lion"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd(_) => "SGD",
            Optimizer::Adam(_) => "Adam",
            Optimizer::AdamW(_) => "AdamW",
            Optimizer::Lion(_) => "Lion",
        }
    }

    /// One step over all tensors: see [`GroupedOptimizer::step`].
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`]; the optimizer is unchanged then.
    #[inline]
    pub fn step<T: AsMut<[P]>, G: AsRef<[P]>>(
        &mut self,
        params: &mut [T],
        grads: &[Option<G>],
    ) -> Result<(), Error> {
        dispatch!(self, o => o.step(params, grads))
    }

    /// One tensor's update: see [`GroupedOptimizer::step_tensor`].
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] or [`Error::ShapeMismatch`]; nothing is written then.
    #[inline]
    pub fn step_tensor(&mut self, index: usize, param: &mut [P], grad: &[P]) -> Result<(), Error> {
        dispatch!(self, o => o.step_tensor(index, param, grad))
    }

    /// Number of parameter groups.
    pub fn num_groups(&self) -> usize {
        dispatch!(self, o => o.groups.len())
    }

    /// Number of tensors (groups concatenated in order).
    pub fn num_tensors(&self) -> usize {
        dispatch!(self, o => o.tensors.len())
    }

    /// The learning rate of `group`, or `None` if there is no such group.
    pub fn lr(&self, group: usize) -> Option<f64> {
        dispatch!(self, o => o.groups.get(group).map(Rule::lr))
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
        dispatch!(self, o => o.get(group, key))
    }

    /// Sets one hyperparameter of one group: see [`GroupedOptimizer::set`].
    ///
    /// # Errors
    /// As [`GroupedOptimizer::set`].
    pub fn set(&mut self, group: usize, key: &str, value: &Value) -> Result<(), Error> {
        dispatch!(self, o => o.set(group, key, value))
    }

    /// The step count of tensor `i` (updates it has received), or `None` if out of range.
    pub fn tensor_step(&self, i: usize) -> Option<u64> {
        dispatch!(self, o => o.tensors.get(i).map(|t| t.step))
    }

    /// The group index of tensor `i`.
    pub fn tensor_group(&self, i: usize) -> Option<usize> {
        dispatch!(self, o => o.tensors.get(i).map(|t| t.group))
    }

    /// The spec (shape, name) of tensor `i`.
    pub fn tensor_spec(&self, i: usize) -> Option<&TensorSpec> {
        dispatch!(self, o => o.tensors.get(i).map(|t| &t.spec))
    }

    /// The state of tensor `i`: `slots × numel` elements, slot-major (e.g. Adam: `exp_avg` then
    /// `exp_avg_sq`).
    pub fn state(&self, i: usize) -> Option<&[S]> {
        dispatch!(self, o => o.tensors.get(i).and_then(|t| o.state.get(t.state.clone())))
    }

    /// The whole state buffer: every tensor's state in tensor order, each tensor's starting at a
    /// multiple of 64 bytes (the gaps are zero and never read; the layout depends only on the
    /// groups, so a buffer saved from one optimizer restores into another built the same way).
    /// Use [`state`](Self::state) for one tensor.
    pub fn state_buffer(&self) -> &[S] {
        dispatch!(self, o => o.state.get(o.layout.clone()).unwrap_or_default())
    }

    /// Mutable access to the whole state buffer (e.g. to restore a checkpoint).
    pub fn state_buffer_mut(&mut self) -> &mut [S] {
        dispatch!(self, o => o.state.get_mut(o.layout.clone()).unwrap_or_default())
    }

    /// The evaluation-mode parameters of tensor `i`, written into `out`.
    ///
    /// For every rule implemented so far these are the training parameters, copied; schedule-free
    /// rules will compute them from their state.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`], or [`Error::ShapeMismatch`] if `param` or `out` has the wrong length.
    pub fn eval_params_into(&self, i: usize, param: &[P], out: &mut [P]) -> Result<(), Error> {
        let len = self.num_tensors();
        let numel = dispatch!(self, o => o.tensors.get(i).map(|t| t.numel)).ok_or(
            Error::IndexOutOfRange {
                what: "tensor",
                index: i,
                len,
            },
        )?;
        for (what, found) in [("param", param.len()), ("eval output", out.len())] {
            if found != numel {
                return Err(Error::ShapeMismatch {
                    tensor: i,
                    what,
                    expected: numel,
                    found,
                });
            }
        }
        out.copy_from_slice(param);
        Ok(())
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
    fn all<R: Rule + Hyper>(r: R) -> Config {
        let mut c = Config::new(r.name());
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
        Kind::Lion => all(Lion::DEFAULT),
    })
}

/// Names of all keys `name` accepts (for help texts and tools), or `None` for an unknown name.
pub fn optimizer_keys(name: &str) -> Option<&'static [&'static str]> {
    Some(match resolve(name)? {
        Kind::Sgd => Sgd::DEFAULT.keys(),
        Kind::Adam => Adam::ADAM.keys(),
        Kind::AdamW => AdamW::DEFAULT.keys(),
        Kind::Lion => Lion::DEFAULT.keys(),
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

    pub(super) fn update<R, P, S>(rule: &R, step: u64, p: &mut [P], g: &[P], slots: Slots<'_, S>)
    where
        R: Rule,
        P: Element,
        S: Element<Compute = P::Compute>,
    {
        if p.len() <= CHUNK {
            rule.update_slots_with::<P, S, <P::Compute as Real>::Vector>(step, p, g, slots);
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
            || update(rule, step, pl, gl, left),
            || update(rule, step, pr, gr, right),
        );
    }
}
