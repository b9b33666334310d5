//! Naive f64 reference loops, one file per rule, written from the equations in the rule docs and
//! in `/work/shared/reference/OPTIMIZERS.md` (§1.1 Adam/AdamW, §1.2 SGD, §1.3 RMSprop, §1.4
//! Adagrad, §1.5 Adadelta, §1.6 Adamax, §1.7 NAdam, §1.8 RAdam, §1.9 ASGD, §1.10 Rprop, §1.12 SparseAdam, §4.1
//! lion-pytorch).
//!
//! They share no code with the crate: hyperparameters are read from the crate's structs, and
//! everything else is a plain loop over `f64` slices with the reference library's per-tensor step
//! semantics (SGD's momentum buffer is the first gradient on step 1; Adam's bias corrections use
//! the tensor's own step). Operation order follows the documented formulas (PyTorch's two-branch
//! `lerp`, `((1 − β₂)·g)·g`, ε outside the root), so the f64 kernels can agree to the last bit.
//! Deliberately naive: index loops, scalar hyperparameter math inline.

#![allow(clippy::needless_range_loop)] // index loops on purpose: the references stay naive

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
mod asgd;
mod lion;
mod nadam;
mod radam;
mod rmsprop;
mod rprop;
mod sgd;
mod sparse_adam;

pub use adadelta::adadelta_step;
pub use adagrad::adagrad_step;
pub use adam::{adam_step, adamw_step};
pub use adamax::adamax_step;
pub use asgd::asgd_step;
pub use lion::lion_step;
pub use nadam::nadam_step;
pub use radam::radam_step;
pub use rmsprop::rmsprop_step;
pub use rprop::rprop_step;
pub use sgd::sgd_step;
pub use sparse_adam::sparse_adam_step;

/// `torch.lerp(a, b, w)` for a scalar weight (`aten/src/ATen/native/Lerp.h`): two formulas,
/// chosen by `|w| < 0.5`.
pub fn lerp(a: f64, b: f64, w: f64) -> f64 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// `torch.sign`: 1, −1, or 0 for ±0 and NaN (as the crate documents for its lanes).
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `torch.maximum`: NaN if either argument is NaN.
pub fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b {
        a
    } else {
        b
    }
}
