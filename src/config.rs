//! `Config` (an optimizer name plus keyword arguments) and the per-rule key tables.

use crate::error::Error;
use crate::value::Value;
use alloc::string::String;
use alloc::vec::Vec;

/// An optimizer config as a Python training codebase writes it: `name` plus keyword arguments
/// with the reference's names (`{name: "AdamW", lr: 1e-3, betas: [0.9, 0.999]}`).
///
/// Keys keep their insertion order; setting a key twice replaces the earlier value. With the
/// `serde` feature, a `Config` deserializes from a map with a `name` key and the keyword arguments
/// beside it (JSON, TOML, YAML, ...).
///
/// # Examples
/// ```
/// use optim_kernels::Config;
/// let config = Config::new("AdamW").set("lr", 1e-3).set("betas", (0.9, 0.999));
/// assert_eq!(config.name(), "AdamW");
/// assert_eq!(config.get("lr"), Some(&1e-3.into()));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    name: String,
    values: Vec<(String, Value)>,
}

impl Config {
    /// A config for optimizer `name` with no keyword arguments (all reference defaults).
    pub fn new(name: impl Into<String>) -> Self {
        Config {
            name: name.into(),
            values: Vec::new(),
        }
    }

    /// Adds (or replaces) a keyword argument.
    #[must_use]
    pub fn set(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// Adds (or replaces) a keyword argument in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let (key, value) = (key.into(), value.into());
        match self.values.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.values.push((key, value)),
        }
    }

    /// The optimizer name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the optimizer name (e.g. a command-line override).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// A keyword argument, if given.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The config a dict value holds (`{"name": ..., key: value, ...}`, e.g. a wrapper's `base`),
    /// or `None` if `value` is not a dict with a string `name`.
    pub fn from_dict(value: &Value) -> Option<Config> {
        let Value::Dict(d) = value else { return None };
        let Some(Value::Str(name)) = d.get("name") else {
            return None;
        };
        let mut c = Config::new(name.clone());
        for (k, v) in d.iter().filter(|(k, _)| *k != "name") {
            c.insert(k.clone(), v.clone());
        }
        Some(c)
    }

    /// The config as a dict value (the inverse of [`from_dict`](Self::from_dict)).
    pub fn to_dict(&self) -> Value {
        let mut d = alloc::collections::BTreeMap::new();
        d.insert(String::from("name"), Value::Str(self.name.clone()));
        for (k, v) in &self.values {
            d.insert(k.clone(), v.clone());
        }
        Value::Dict(d)
    }

    /// The keyword arguments in insertion order.
    pub fn values(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::{Config, Value};
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use serde::de::Error as _;

    impl<'de> serde::Deserialize<'de> for Config {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            // Preserve the map as given; `name` must be a string.
            let map: BTreeMap<String, Value> = BTreeMap::deserialize(d)?;
            let mut name = None;
            let mut config = Config::default();
            for (k, v) in map {
                if k == "name" {
                    match v {
                        Value::Str(s) => name = Some(s),
                        _ => return Err(D::Error::custom("`name` must be a string")),
                    }
                } else {
                    config.insert(k, v);
                }
            }
            config.name = name.ok_or_else(|| D::Error::missing_field("name"))?;
            Ok(config)
        }
    }

    impl serde::Serialize for Config {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.values.len() + 1))?;
            m.serialize_entry("name", &self.name)?;
            for (k, v) in &self.values {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
}

/// Conversion between a hyperparameter field and a config [`Value`].
pub(crate) trait Field: Sized {
    fn from_value(v: &Value, key: &str) -> Result<Self, Error>;
    fn to_value(&self) -> Value;
}

impl Field for f64 {
    fn from_value(v: &Value, key: &str) -> Result<Self, Error> {
        v.as_number(key)
    }
    fn to_value(&self) -> Value {
        Value::Float(*self)
    }
}

impl Field for bool {
    fn from_value(v: &Value, key: &str) -> Result<Self, Error> {
        v.as_bool(key)
    }
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl Field for Option<bool> {
    fn from_value(v: &Value, key: &str) -> Result<Self, Error> {
        v.as_optional_bool(key)
    }
    fn to_value(&self) -> Value {
        self.map_or(Value::None, Value::Bool)
    }
}

impl Field for u64 {
    fn from_value(v: &Value, key: &str) -> Result<Self, Error> {
        v.as_count(key)
    }
    fn to_value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Field for (f64, f64) {
    fn from_value(v: &Value, key: &str) -> Result<Self, Error> {
        v.as_pair(key)
    }
    fn to_value(&self) -> Value {
        Value::List(alloc::vec![Value::Float(self.0), Value::Float(self.1)])
    }
}

impl Field for (Option<f64>, f64) {
    /// `[eps1 or None, eps2]` (torch Adafactor's `eps`).
    fn from_value(v: &Value, key: &str) -> Result<Self, Error> {
        match v {
            Value::List(l) if l.len() == 2 => {
                let first = match &l[0] {
                    Value::None => None,
                    x => Some(x.as_number(&alloc::format!("{key}[0]"))?),
                };
                Ok((first, l[1].as_number(&alloc::format!("{key}[1]"))?))
            }
            _ => Err(Error::InvalidType {
                key: key.into(),
                expected: "a list of two numbers, the first may be None",
                group: None,
            }),
        }
    }
    fn to_value(&self) -> Value {
        Value::List(alloc::vec![self.0.into(), Value::Float(self.1)])
    }
}

impl Field for (f64, f64, f64) {
    fn from_value(v: &Value, key: &str) -> Result<Self, Error> {
        match v {
            Value::List(l) if l.len() == 3 => {
                let num = |i: usize| l[i].as_number(&alloc::format!("{key}[{i}]"));
                Ok((num(0)?, num(1)?, num(2)?))
            }
            _ => Err(Error::InvalidType {
                key: key.into(),
                expected: "a list of three numbers",
                group: None,
            }),
        }
    }
    fn to_value(&self) -> Value {
        Value::List(alloc::vec![
            Value::Float(self.0),
            Value::Float(self.1),
            Value::Float(self.2)
        ])
    }
}

/// A rule's config keys: reading and writing hyperparameters by their reference names.
pub trait Hyper {
    /// Every key the reference constructor accepts for this rule, in its signature order.
    fn keys(&self) -> &'static [&'static str];
    /// The current value of `key`, or `None` if the rule has no such key.
    fn get(&self, key: &str) -> Option<Value>;
    /// Sets `key` from a config value (type-checked; range checks are `Rule::validate`'s).
    ///
    /// # Errors
    /// [`Error::UnknownKey`] or [`Error::InvalidType`].
    fn set(&mut self, key: &str, value: &Value) -> Result<(), Error>;
}

/// Implements [`Hyper`] from a table of `key => field` pairs (fields named as the keys).
macro_rules! hyper_keys {
    ($ty:ty, [$($key:ident),* $(,)?]) => {
        impl $crate::config::Hyper for $ty {
            fn keys(&self) -> &'static [&'static str] {
                &[$(stringify!($key)),*]
            }
            fn get(&self, key: &str) -> Option<$crate::Value> {
                use $crate::config::Field;
                match key {
                    $(stringify!($key) => Some(self.$key.to_value()),)*
                    _ => None,
                }
            }
            fn set(&mut self, key: &str, value: &$crate::Value) -> Result<(), $crate::Error> {
                use $crate::config::Field;
                match key {
                    $(stringify!($key) => {
                        self.$key = Field::from_value(value, key)?;
                        Ok(())
                    })*
                    _ => Err($crate::Error::UnknownKey {
                        optimizer: <$ty as $crate::GroupRule>::name(self),
                        key: alloc::string::ToString::to_string(key),
                        group: None,
                    }),
                }
            }
        }
    };
}
pub(crate) use hyper_keys;

/// Applies `values` to `rule` in order; the first failing key is the error.
pub(crate) fn apply<'a, H: Hyper>(
    rule: &mut H,
    values: impl Iterator<Item = (&'a str, &'a Value)>,
) -> Result<(), Error> {
    for (k, v) in values {
        rule.set(k, v)?;
    }
    Ok(())
}
