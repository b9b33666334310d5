//! TOML values as optimizer config values (shared by `examples/train.rs` and `tests/examples.rs`).

use optim_kernels::Value;

/// A TOML value as a config value; `key` names it in errors.
#[allow(dead_code)]
pub fn toml_to_value(key: &str, v: &toml::Value) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(x) => Value::Float(*x),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Array(items) => Value::List(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| toml_to_value(&format!("{key}[{i}]"), v))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => Value::Dict(
            t.iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_value(&format!("{key}.{k}"), v)?)))
                .collect::<Result<_, String>>()?,
        ),
        toml::Value::Datetime(_) => {
            return Err(format!("`{key}`: a {} is not a config value", v.type_str()));
        }
    })
}
