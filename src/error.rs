//! The crate's one error type.

use core::fmt;

#[cfg(feature = "alloc")]
use alloc::string::String;

/// Everything that can go wrong building or stepping an optimizer.
///
/// Every variant names the offending key or tensor. Errors are returned before anything is
/// written: an optimizer that returned an error has the state it had before the call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter is outside its valid range (`key` is e.g. `"lr"` or `"betas[1]"`).
    InvalidValue {
        /// The offending key, with an index for sequence values (`"betas[1]"`).
        key: &'static str,
        /// The rejected value (NaN for a NaN input).
        value: f64,
        /// What would have been accepted, e.g. `"0 <= betas[1] < 1"`.
        expected: &'static str,
        /// The parameter group whose value was rejected, if it came from a group override.
        group: Option<usize>,
    },
    /// Two hyperparameters that cannot be combined (e.g. `nesterov` without `momentum`).
    Conflict {
        /// The key whose setting is not allowed with the others.
        key: &'static str,
        /// Why, in PyTorch's words where PyTorch checks it.
        reason: &'static str,
        /// The parameter group, if the conflict is in a group override.
        group: Option<usize>,
    },
    /// A tensor's gradient, parameter or state slice has the wrong length.
    ShapeMismatch {
        /// Index of the tensor in the optimizer (groups concatenated in order).
        tensor: usize,
        /// Which slice: `"param"`, `"grad"` or `"state"`.
        what: &'static str,
        /// The length the optimizer was built for.
        expected: usize,
        /// The length passed.
        found: usize,
    },
    /// A rule that does not accept a tensor of this shape (e.g. Muon: only 2-D parameters).
    UnsupportedShape {
        /// Index of the tensor in the optimizer (groups concatenated in order).
        tensor: usize,
        /// Which shapes the rule accepts, and what the reference does with others.
        reason: &'static str,
    },
    /// A row-sparse gradient (`step_sparse`, `SparseAdam::step_rows`) whose row indices are out
    /// of range or not sorted ascending.
    InvalidSparseRows {
        /// Index of the tensor in the optimizer (groups concatenated in order).
        tensor: usize,
        /// Position of the offending index in the `rows` list.
        position: usize,
        /// The offending row index.
        row: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `step` was given a different number of tensors than the optimizer holds.
    TensorCount {
        /// Tensors the optimizer was built with.
        expected: usize,
        /// Tensors passed (`"params"` or `"grads"` list).
        found: usize,
        /// Which list: `"params"` or `"grads"`.
        what: &'static str,
    },
    /// A tensor or group index that does not exist.
    IndexOutOfRange {
        /// `"tensor"` or `"group"`.
        what: &'static str,
        /// The index asked for.
        index: usize,
        /// How many there are.
        len: usize,
    },
    /// The optimizer name is not one this crate knows (see the name table in the crate docs).
    #[cfg(feature = "alloc")]
    UnknownOptimizer {
        /// The name as given.
        name: String,
    },
    /// A key the reference optimizer does not accept.
    #[cfg(feature = "alloc")]
    UnknownKey {
        /// The optimizer's canonical name.
        optimizer: &'static str,
        /// The key as given.
        key: String,
        /// The parameter group, if the key was a group override.
        group: Option<usize>,
    },
    /// A value of the wrong type for its key (e.g. a string for `lr`).
    #[cfg(feature = "alloc")]
    InvalidType {
        /// The key, with an index for sequence elements.
        key: String,
        /// What the key takes, e.g. `"a number"` or `"a list of two numbers"`.
        expected: &'static str,
        /// The parameter group, if the value came from a group override.
        group: Option<usize>,
    },
    /// A key that fixes the state layout (e.g. `amsgrad`, `momentum` 0 ↔ non-zero) cannot change
    /// after the optimizer is built.
    #[cfg(feature = "alloc")]
    Immutable {
        /// The key.
        key: String,
    },
    /// The parameter groups do not describe a valid set of tensors.
    #[cfg(feature = "alloc")]
    InvalidGroups {
        /// What is wrong.
        reason: String,
    },
    /// A call that the optimizer's current mode (or rule) does not allow, e.g. `step` in
    /// evaluation mode.
    Mode {
        /// What was attempted.
        what: &'static str,
        /// Why it is refused and what to do instead.
        reason: &'static str,
    },
}

fn group_suffix(f: &mut fmt::Formatter<'_>, group: &Option<usize>) -> fmt::Result {
    match group {
        Some(g) => write!(f, " in param_groups[{g}]"),
        None => Ok(()),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidValue {
                key,
                value,
                expected,
                group,
            } => {
                write!(f, "invalid value for `{key}`")?;
                group_suffix(f, group)?;
                write!(f, ": {value} (expected {expected})")
            }
            Error::Conflict { key, reason, group } => {
                write!(f, "invalid `{key}`")?;
                group_suffix(f, group)?;
                write!(f, ": {reason}")
            }
            Error::ShapeMismatch {
                tensor,
                what,
                expected,
                found,
            } => write!(
                f,
                "tensor {tensor}: {what} has length {found}, expected {expected}"
            ),
            Error::UnsupportedShape { tensor, reason } => {
                write!(f, "tensor {tensor}: unsupported shape: {reason}")
            }
            Error::InvalidSparseRows {
                tensor,
                position,
                row,
                reason,
            } => write!(
                f,
                "tensor {tensor}: sparse gradient rows[{position}] = {row}: {reason}"
            ),
            Error::TensorCount {
                expected,
                found,
                what,
            } => {
                write!(
                    f,
                    "{what}: got {found} tensors, the optimizer holds {expected}"
                )
            }
            Error::IndexOutOfRange { what, index, len } => {
                write!(f, "{what} index {index} out of range (there are {len})")
            }
            #[cfg(feature = "alloc")]
            Error::UnknownOptimizer { name } => write!(f, "unknown optimizer `{name}`"),
            #[cfg(feature = "alloc")]
            Error::UnknownKey {
                optimizer,
                key,
                group,
            } => {
                write!(f, "unknown key `{key}` for {optimizer}")?;
                group_suffix(f, group)
            }
            #[cfg(feature = "alloc")]
            Error::InvalidType {
                key,
                expected,
                group,
            } => {
                write!(f, "invalid type for `{key}`")?;
                group_suffix(f, group)?;
                write!(f, ": expected {expected}")
            }
            #[cfg(feature = "alloc")]
            Error::Immutable { key } => write!(
                f,
                "`{key}` fixes the optimizer's state layout and cannot change after it is built"
            ),
            #[cfg(feature = "alloc")]
            Error::InvalidGroups { reason } => write!(f, "invalid param_groups: {reason}"),
            Error::Mode { what, reason } => write!(f, "{what}: {reason}"),
        }
    }
}

impl core::error::Error for Error {}

impl Error {
    /// The same error, attributed to parameter group `g` (for values that came from a group).
    #[must_use]
    pub fn in_group(mut self, g: usize) -> Self {
        match &mut self {
            Error::InvalidValue { group, .. } | Error::Conflict { group, .. } => *group = Some(g),
            #[cfg(feature = "alloc")]
            Error::UnknownKey { group, .. } | Error::InvalidType { group, .. } => *group = Some(g),
            _ => {}
        }
        self
    }

    /// The key this error names, if it is about a key.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::InvalidValue { key, .. } | Error::Conflict { key, .. } => Some(key),
            #[cfg(feature = "alloc")]
            Error::UnknownKey { key, .. }
            | Error::InvalidType { key, .. }
            | Error::Immutable { key } => Some(key),
            _ => None,
        }
    }
}

/// `check(key, v, 0 <= v < ∞, "0 <= key < inf")`: PyTorch's `if not 0.0 <= v` constructor check,
/// with infinity (and NaN) refused too.
macro_rules! non_negative {
    ($key:literal, $v:expr) => {{
        let v: f64 = $v;
        $crate::error::check(
            $key,
            v,
            v >= 0.0 && v.is_finite(),
            concat!("0 <= ", $key, " < inf"),
        )
    }};
}
pub(crate) use non_negative;

/// `check(key, v, 0 <= v < 1, "0 <= key < 1")`: PyTorch's `if not 0.0 <= beta < 1.0` check.
macro_rules! unit_interval {
    ($key:literal, $v:expr) => {{
        let v: f64 = $v;
        $crate::error::check(
            $key,
            v,
            (0.0..1.0).contains(&v),
            concat!("0 <= ", $key, " < 1"),
        )
    }};
}
pub(crate) use unit_interval;

/// Checks a slice length: `Err(ShapeMismatch)` naming tensor `tensor` and `what` (`"param"`,
/// `"grad"`, ...) unless `found == expected`.
#[inline]
pub(crate) fn check_len(
    tensor: usize,
    what: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), Error> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            tensor,
            what,
            expected,
            found,
        })
    }
}

/// Checks a hyperparameter: `Err(InvalidValue)` unless `ok(value)` (NaN never passes).
#[inline]
pub(crate) fn check(
    key: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), Error> {
    if ok && !value.is_nan() {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            key,
            value,
            expected,
            group: None,
        })
    }
}
