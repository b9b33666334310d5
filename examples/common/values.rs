//! JSON values as optimizer config values (shared by the examples, their tests and the fuzzer).
//!
//! Strings stay strings, integers stay integers, `null` is Python's `None`; the strings
//! `"NaN"`, `"Infinity"` and `"-Infinity"` are the non-finite floats (REPLAY.md).

use optim_kernels::Value;

/// The non-finite float a REPLAY.md string stands for, if it is one.
#[allow(dead_code)]
pub fn non_finite(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A JSON value as a config value; `key` names it in errors.
#[allow(dead_code)]
pub fn json_to_value(key: &str, v: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::None,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(x)) => Value::Float(x),
            (None, None) => return Err(format!("`{key}`: {n} is out of range")),
        },
        J::String(s) => non_finite(s).map_or_else(|| Value::Str(s.clone()), Value::Float),
        J::Array(items) => Value::List(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| json_to_value(&format!("{key}[{i}]"), v))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(m) => Value::Dict(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), json_to_value(&format!("{key}.{k}"), v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}
