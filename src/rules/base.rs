//! [`BaseRule`]: any plain rule, chosen at run time, as the base of a schedule-free wrapper
//! built from a config.

use crate::error::Error;
use crate::lanes::Real;
use crate::rules::{
    Adadelta, Adagrad, Adam, AdamW, Adamax, Lion, RAdam, RmsProp, Rprop, Rule, Sgd, Visit,
};

/// Any rule without a per-group schedule or per-tensor scalars, chosen at run time (the base
/// optimizer a [`ScheduleFreeWrapper`](crate::rules::ScheduleFreeWrapper) built from a config
/// wraps).
///
/// The choice is a `match` once per tensor update, outside every loop: each variant runs its own
/// monomorphic kernel.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum BaseRule {
    /// `torch.optim.SGD`.
    Sgd(Sgd),
    /// `torch.optim.Adam`.
    Adam(Adam),
    /// `torch.optim.AdamW`.
    AdamW(AdamW),
    /// lion-pytorch `Lion`.
    Lion(Lion),
    /// `torch.optim.RMSprop`.
    RmsProp(RmsProp),
    /// `torch.optim.Adagrad`.
    Adagrad(Adagrad),
    /// `torch.optim.Adadelta`.
    Adadelta(Adadelta),
    /// `torch.optim.Adamax`.
    Adamax(Adamax),
    /// `torch.optim.RAdam`.
    RAdam(RAdam),
    /// `torch.optim.Rprop`.
    Rprop(Rprop),
}

macro_rules! each {
    ($self:expr, $r:ident => $e:expr) => {
        match $self {
            BaseRule::Sgd($r) => $e,
            BaseRule::Adam($r) => $e,
            BaseRule::AdamW($r) => $e,
            BaseRule::Lion($r) => $e,
            BaseRule::RmsProp($r) => $e,
            BaseRule::Adagrad($r) => $e,
            BaseRule::Adadelta($r) => $e,
            BaseRule::Adamax($r) => $e,
            BaseRule::RAdam($r) => $e,
            BaseRule::Rprop($r) => $e,
        }
    };
}

impl Rule for BaseRule {
    type Schedule = ();
    type Scalars = ();
    type TensorState = ();

    #[inline]
    fn name(&self) -> &'static str {
        each!(self, r => r.name())
    }
    #[inline]
    fn slots(&self) -> usize {
        each!(self, r => Rule::slots(r))
    }
    #[inline]
    fn lr(&self) -> f64 {
        each!(self, r => r.lr())
    }
    #[inline]
    fn set_lr(&mut self, lr: f64) {
        each!(self, r => r.set_lr(lr))
    }
    fn validate(&self) -> Result<(), Error> {
        each!(self, r => r.validate())
    }
    #[inline]
    fn initial_state(&self, slot: usize) -> f64 {
        each!(self, r => r.initial_state(slot))
    }
    #[inline]
    fn begin_step(&self, _: &mut ()) {}
    #[inline]
    fn visit_body<C: Real, F: Visit<C>>(&self, _: &(), step: u64, f: F) {
        each!(self, r => r.visit_body(&(), step, f))
    }
}

#[cfg(feature = "alloc")]
impl crate::config::Hyper for BaseRule {
    fn keys(&self) -> &'static [&'static str] {
        each!(self, r => r.keys())
    }
    fn get(&self, key: &str) -> Option<crate::Value> {
        each!(self, r => r.get(key))
    }
    fn set(&mut self, key: &str, value: &crate::Value) -> Result<(), Error> {
        each!(self, r => r.set(key, value))
    }
}
