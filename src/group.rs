//! Parameter groups: which tensors an optimizer holds and their per-group hyperparameters.

use crate::value::Value;
use alloc::string::String;
use alloc::vec::Vec;

/// The shape (and optional name) of one parameter tensor. Its data is row-major and has
/// `shape.iter().product()` elements (1 for a scalar, `shape = []`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TensorSpec {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Optional name (e.g. `"fc1.weight"`), used in error messages by callers.
    #[cfg_attr(feature = "serde", serde(default))]
    pub name: Option<String>,
}

impl TensorSpec {
    /// An unnamed tensor of this shape.
    pub fn new(shape: impl Into<Vec<usize>>) -> Self {
        TensorSpec {
            shape: shape.into(),
            name: None,
        }
    }

    /// A named tensor of this shape.
    pub fn named(name: impl Into<String>, shape: impl Into<Vec<usize>>) -> Self {
        TensorSpec {
            shape: shape.into(),
            name: Some(name.into()),
        }
    }

    /// Number of elements (product of the dimensions; `None` on overflow).
    pub fn numel(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }
}

impl From<&[usize]> for TensorSpec {
    fn from(shape: &[usize]) -> Self {
        TensorSpec::new(shape)
    }
}
impl From<Vec<usize>> for TensorSpec {
    fn from(shape: Vec<usize>) -> Self {
        TensorSpec::new(shape)
    }
}
impl<const N: usize> From<[usize; N]> for TensorSpec {
    fn from(shape: [usize; N]) -> Self {
        TensorSpec::new(shape)
    }
}
impl From<&TensorSpec> for TensorSpec {
    fn from(t: &TensorSpec) -> Self {
        t.clone()
    }
}

/// A parameter group, as in PyTorch's `param_groups`: tensors plus hyperparameter overrides.
///
/// Any key of the optimizer may be overridden per group (`lr`, `weight_decay`, `betas`, ...);
/// keys not overridden take the config's value, then the reference default.
///
/// # Examples
/// ```
/// use optim_kernels::ParamGroup;
/// // Biases and norms without weight decay, as timm's `param_groups_weight_decay` does:
/// let decay = ParamGroup::new([[256, 128], [10, 256]]);
/// let no_decay = ParamGroup::new([[256], [10]]).set("weight_decay", 0.0);
/// assert_eq!(no_decay.tensors().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamGroup {
    tensors: Vec<TensorSpec>,
    overrides: Vec<(String, Value)>,
}

impl ParamGroup {
    /// A group holding these tensors (shapes, or [`TensorSpec`]s) with no overrides.
    pub fn new<T: Into<TensorSpec>>(tensors: impl IntoIterator<Item = T>) -> Self {
        ParamGroup {
            tensors: tensors.into_iter().map(Into::into).collect(),
            overrides: Vec::new(),
        }
    }

    /// Overrides a hyperparameter for this group (replacing an earlier override of the same key).
    #[must_use]
    pub fn set(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.overrides.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.overrides.push((key, value)),
        }
        self
    }

    /// The tensors of this group.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// The overrides in insertion order.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.overrides.iter().map(|(k, v)| (k.as_str(), v))
    }
}
