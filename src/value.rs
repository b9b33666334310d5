//! Config values: the Python literals a `DictConfig` holds.

use crate::error::Error;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// A configuration value, as in a Python `DictConfig`: `None`, bool, int, float, string or list.
///
/// Integers are accepted wherever PyTorch accepts a float (`lr: 1` is `1.0`). With the `serde`
/// feature a `Value` deserializes from any self-describing format (JSON `null` is `None`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum Value {
    /// Python's `None` (JSON `null`).
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (e.g. `adjust_lr_fn`).
    Str(String),
    /// A list or tuple (e.g. `betas`).
    List(Vec<Value>),
    /// A dict (e.g. the `base` optimizer config of `ScheduleFreeWrapper`).
    Dict(BTreeMap<String, Value>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("(")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Value::Dict(d) => {
                f.write_str("{")?;
                for (i, (k, v)) in d.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "'{k}': {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}
impl From<f32> for Value {
    fn from(x: f32) -> Self {
        Value::Float(x as f64)
    }
}
impl From<i64> for Value {
    fn from(x: i64) -> Self {
        Value::Int(x)
    }
}
impl From<i32> for Value {
    fn from(x: i32) -> Self {
        Value::Int(x as i64)
    }
}
impl From<u32> for Value {
    fn from(x: u32) -> Self {
        Value::Int(x as i64)
    }
}
impl From<bool> for Value {
    fn from(x: bool) -> Self {
        Value::Bool(x)
    }
}
impl From<&str> for Value {
    fn from(x: &str) -> Self {
        Value::Str(x.to_string())
    }
}
impl From<String> for Value {
    fn from(x: String) -> Self {
        Value::Str(x)
    }
}
impl<A: Into<Value>, B: Into<Value>> From<(A, B)> for Value {
    fn from((a, b): (A, B)) -> Self {
        Value::List(alloc::vec![a.into(), b.into()])
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::None, Into::into)
    }
}

fn type_error(key: &str, expected: &'static str) -> Error {
    Error::InvalidType {
        key: key.to_string(),
        expected,
        group: None,
    }
}

impl Value {
    /// The value as a number (int or float), or a type error naming `key`.
    ///
    /// # Errors
    /// [`Error::InvalidType`] for anything but an int or a float.
    pub fn as_number(&self, key: &str) -> Result<f64, Error> {
        match *self {
            Value::Float(x) => Ok(x),
            Value::Int(i) => Ok(i as f64),
            _ => Err(type_error(key, "a number")),
        }
    }

    /// The value as a bool, or a type error naming `key`.
    ///
    /// # Errors
    /// [`Error::InvalidType`] for anything but a bool.
    pub fn as_bool(&self, key: &str) -> Result<bool, Error> {
        match *self {
            Value::Bool(b) => Ok(b),
            _ => Err(type_error(key, "a bool")),
        }
    }

    /// `None` or a bool (PyTorch's `foreach: bool | None`).
    ///
    /// # Errors
    /// [`Error::InvalidType`] for anything else.
    pub fn as_optional_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match *self {
            Value::None => Ok(None),
            Value::Bool(b) => Ok(Some(b)),
            _ => Err(type_error(key, "a bool or None")),
        }
    }

    /// A non-negative integer (`warmup_steps`); a float with an integral value is accepted, as
    /// Python's arithmetic would.
    ///
    /// # Errors
    /// [`Error::InvalidType`] naming `key`.
    pub fn as_count(&self, key: &str) -> Result<u64, Error> {
        match *self {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            Value::Float(x) if (0.0..1.8e19).contains(&x) && x == (x as u64) as f64 => Ok(x as u64),
            _ => Err(type_error(key, "a non-negative integer")),
        }
    }

    /// A list of exactly two numbers (`betas`, `etas`, ...).
    ///
    /// # Errors
    /// [`Error::InvalidType`] naming `key` or `key[i]`.
    pub fn as_pair(&self, key: &str) -> Result<(f64, f64), Error> {
        match self {
            Value::List(l) if l.len() == 2 => {
                let num = |i: usize| -> Result<f64, Error> {
                    l[i].as_number(&alloc::format!("{key}[{i}]"))
                };
                Ok((num(0)?, num(1)?))
            }
            _ => Err(type_error(key, "a list of two numbers")),
        }
    }
}
