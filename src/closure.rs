//! The optimizer layer of the closure-driven rule: [`LbfgsOptimizer`] (`torch.optim.LBFGS`).
//!
//! L-BFGS is not a per-tensor update: a step re-evaluates the objective through a closure and
//! works on all parameters as one flat vector. So it does not fit [`GroupedOptimizer`]
//! (per-tensor state, gradient lists); it has its own small optimizer with the same accessors,
//! one parameter group as torch requires, and its whole state (history ring buffers included)
//! allocated when it is built.
//!
//! [`GroupedOptimizer`]: crate::GroupedOptimizer

use crate::config::{Config, Hyper};
use crate::element::Element;
use crate::error::{Error, check_len};
use crate::group::{ParamGroup, TensorSpec};
use crate::rules::{Lbfgs, LbfgsState};
use crate::value::Value;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::marker::PhantomData;

/// `torch.optim.LBFGS` over one parameter group, with its state owned: see
/// [`rules::lbfgs`](crate::rules::lbfgs) for the algorithm.
///
/// Built by [`build_optimizer`](crate::build_optimizer) (name `"LBFGS"`) as
/// [`Optimizer::Lbfgs`](crate::Optimizer::Lbfgs) and stepped with
/// [`Optimizer::step_closure`](crate::Optimizer::step_closure). The buffer (`d`, gradients,
/// `history_size` pairs of flat vectors, line-search scratch; [`Lbfgs::state_len`] elements of
/// the compute type) is allocated when it is built; a step allocates nothing. `S` is not used
/// (the state is in the compute type `P::Compute`, as torch keeps it in the parameter dtype),
/// so [`state`](crate::Optimizer::state) is `None` and
/// [`state_buffer`](crate::Optimizer::state_buffer) is empty; [`buffer`](Self::buffer) and
/// [`lbfgs_state`](Self::lbfgs_state) show the state.
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsOptimizer<P: Element, S: Element<Compute = P::Compute>> {
    rule: Lbfgs,
    tensors: Vec<TensorSpec>,
    numels: Vec<usize>,
    state: LbfgsState,
    buf: Vec<P::Compute>,
    _s: PhantomData<fn() -> S>,
}

/// `Err` unless the lists have `n` tensors of the right lengths (before anything is written).
fn check_lists<P, T: AsRef<[P]>, G: AsRef<[P]>>(
    numels: &[usize],
    params: &[T],
    grads: &[G],
) -> Result<(), Error> {
    let n = numels.len();
    for (what, found) in [("params", params.len()), ("grads", grads.len())] {
        if found != n {
            return Err(Error::TensorCount {
                expected: n,
                found,
                what,
            });
        }
    }
    for (i, ((&numel, p), g)) in numels.iter().zip(params).zip(grads).enumerate() {
        for (what, found) in [("param", p.as_ref().len()), ("grad", g.as_ref().len())] {
            check_len(i, what, numel, found)?;
        }
    }
    Ok(())
}

impl<P: Element, S: Element<Compute = P::Compute>> LbfgsOptimizer<P, S> {
    /// Builds from the constructor-level rule (`top`, validated) and the groups: exactly one
    /// group, whose overrides apply as in torch's param-group dict.
    pub(crate) fn new(top: &Lbfgs, groups: &[ParamGroup]) -> Result<Self, Error> {
        let [group] = groups else {
            return Err(Error::InvalidGroups {
                reason: alloc::format!(
                    "LBFGS doesn't support per-parameter options (parameter groups): got {} \
                     groups, it takes exactly one",
                    groups.len()
                ),
            });
        };
        let mut rule = top.clone();
        for (k, v) in group.overrides() {
            if k == "params" {
                return Err(Error::InvalidGroups {
                    reason: "a group's tensors are given by ParamGroup::new, not a `params` key"
                        .into(),
                });
            }
            rule.set(k, v).map_err(|e| e.in_group(0))?;
        }
        rule.validate().map_err(|e| e.in_group(0))?;
        let tensors: Vec<TensorSpec> = group.tensors().to_vec();
        if tensors.is_empty() {
            return Err(Error::InvalidGroups {
                reason: "optimizer got an empty parameter list".into(),
            });
        }
        let too_large = || Error::InvalidGroups {
            reason: "the LBFGS state (history_size + 3 flat copies of the parameters) is too \
                     large"
                .into(),
        };
        let mut numels = Vec::with_capacity(tensors.len());
        let mut n = 0usize;
        for (i, spec) in tensors.iter().enumerate() {
            let numel = spec.numel().ok_or_else(|| Error::InvalidGroups {
                reason: alloc::format!("tensor {i} is too large"),
            })?;
            n = n.checked_add(numel).ok_or_else(too_large)?;
            numels.push(numel);
        }
        let len = rule.state_len(n);
        if len == usize::MAX {
            return Err(too_large());
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| too_large())?;
        buf.resize(len, P::Compute::default());
        Ok(LbfgsOptimizer {
            rule,
            tensors,
            numels,
            state: LbfgsState::new(),
            buf,
            _s: PhantomData,
        })
    }

    /// The hyperparameters.
    pub fn rule(&self) -> &Lbfgs {
        &self.rule
    }

    /// The scalars carried between steps (counters, `t`, `H_diag`, history length).
    pub fn lbfgs_state(&self) -> &LbfgsState {
        &self.state
    }

    /// The state buffer (`d`, gradients, history ring buffers, scratch) in the compute type, laid
    /// out as [`rules::lbfgs`](crate::rules::lbfgs) documents.
    pub fn buffer(&self) -> &[P::Compute] {
        &self.buf
    }

    /// Number of tensors.
    pub fn num_tensors(&self) -> usize {
        self.tensors.len()
    }

    /// One `LBFGS.step(closure)`: see [`Lbfgs::step`]. Returns the loss of the first evaluation.
    ///
    /// # Errors
    /// [`Error::TensorCount`] or [`Error::ShapeMismatch`] before anything is written or the
    /// closure is called; [`Error::ShapeMismatch`] if the closure changes a gradient's length.
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
        check_lists(&self.numels, params, grads)?;
        self.rule
            .step(&mut self.state, &mut self.buf, params, grads, closure)
    }

    pub(crate) fn lr(&self, group: usize) -> Option<f64> {
        (group == 0).then_some(self.rule.lr)
    }

    pub(crate) fn get(&self, group: usize, key: &str) -> Option<Value> {
        if group == 0 { self.rule.get(key) } else { None }
    }

    /// Sets one hyperparameter (type- and range-checked); `history_size` and `line_search_fn`
    /// fix the buffer layout and cannot change ([`Error::Immutable`]).
    pub(crate) fn set(&mut self, group: usize, key: &str, value: &Value) -> Result<(), Error> {
        if group != 0 {
            return Err(Error::IndexOutOfRange {
                what: "group",
                index: group,
                len: 1,
            });
        }
        let mut next = self.rule.clone();
        next.set(key, value).map_err(|e| e.in_group(0))?;
        next.validate().map_err(|e| e.in_group(0))?;
        let n = self.numels.iter().sum();
        if next.state_len(n) != self.rule.state_len(n) {
            return Err(Error::Immutable {
                key: key.to_string(),
            });
        }
        self.rule = next;
        Ok(())
    }

    pub(crate) fn tensor_step(&self, i: usize) -> Option<u64> {
        (i < self.tensors.len()).then_some(self.state.n_iter)
    }

    pub(crate) fn tensor_group(&self, i: usize) -> Option<usize> {
        (i < self.tensors.len()).then_some(0)
    }

    pub(crate) fn tensor_spec(&self, i: usize) -> Option<&TensorSpec> {
        self.tensors.get(i)
    }

    pub(crate) fn eval_params_into(
        &self,
        i: usize,
        param: &[P],
        out: &mut [P],
    ) -> Result<(), Error> {
        let len = self.tensors.len();
        let &numel = self.numels.get(i).ok_or(Error::IndexOutOfRange {
            what: "tensor",
            index: i,
            len,
        })?;
        for (what, found) in [("param", param.len()), ("eval output", out.len())] {
            check_len(i, what, numel, found)?;
        }
        out.copy_from_slice(param);
        Ok(())
    }

    /// No modes: checks the lengths, changes nothing.
    pub(crate) fn switch<T: AsMut<[P]>>(&self, params: &mut [T]) -> Result<(), Error> {
        let n = self.numels.len();
        if params.len() != n {
            return Err(Error::TensorCount {
                expected: n,
                found: params.len(),
                what: "params",
            });
        }
        for (i, (&numel, p)) in self.numels.iter().zip(params.iter_mut()).enumerate() {
            let found = p.as_mut().len();
            check_len(i, "param", numel, found)?;
        }
        Ok(())
    }
}

/// `Optimizer::step`/`step_tensor` on LBFGS.
pub(crate) const NEEDS_CLOSURE: &str = "LBFGS needs a closure that re-evaluates the loss and \
     gradients: use step_closure";

/// Builds `LBFGS` from a config: defaults, the config's keys, `max_eval = max_iter·5/4` when it
/// is `None` (torch resolves it in the constructor), the constructor's checks, then the group.
pub(crate) fn build<P: Element, S: Element<Compute = P::Compute>>(
    groups: &[ParamGroup],
    config: &Config,
) -> Result<LbfgsOptimizer<P, S>, Error> {
    if config.get("params").is_some() {
        return Err(Error::InvalidGroups {
            reason: "tensors are given as param groups, not a `params` key".into(),
        });
    }
    let mut top = Lbfgs::DEFAULT;
    crate::config::apply(&mut top, config.values())?;
    top.max_eval = Some(top.resolved_max_eval());
    top.validate()?;
    LbfgsOptimizer::new(&top, groups)
}
