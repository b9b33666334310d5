//! REPLAY.md cases: parsing, running through the public `build_optimizer` path, printing results.
//!
//! Shared by `examples/replay` (the conformance CLI) and `tests/replay.rs` (the golden tests), so
//! both exercise exactly the same code path.

use optim_kernels::{Config, Element, Optimizer, ParamGroup, TensorSpec, Value, bf16, f16};
use serde_json::Value as Json;

#[path = "../common/values.rs"]
mod values;
use values::{json_to_value, non_finite};

/// A group: its tensor indices (into the case's `params`) and its key overrides.
pub type Group = (Vec<usize>, Vec<(String, Value)>);

/// A parsed case.
#[derive(Debug, Clone)]
pub struct Case {
    pub config: Config,
    pub dtype: String,
    pub params: Vec<(Vec<usize>, Vec<f64>)>,
    /// Tensor indices and overrides per group.
    pub groups: Vec<Group>,
    pub steps: Vec<Step>,
    pub eval_params: bool,
}

/// One `step()`: a gradient (or none) per tensor, and optional per-group learning rates.
#[derive(Debug, Clone)]
pub struct Step {
    pub grads: Vec<Option<Vec<f64>>>,
    pub lr: Option<Vec<Option<f64>>>,
}

/// Parameters after each step (case tensor order), and the evaluation-mode parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub steps: Vec<Vec<Vec<f64>>>,
    pub eval_params: Option<Vec<Vec<f64>>>,
}

/// A number, or one of the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn number(v: &Json, what: &str) -> Result<f64, String> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| format!("{what}: not a number")),
        Json::String(s) => {
            non_finite(s).ok_or_else(|| format!("{what}: expected a number, got {s:?}"))
        }
        _ => Err(format!("{what}: expected a number")),
    }
}

pub fn numbers(v: &Json, what: &str) -> Result<Vec<f64>, String> {
    let arr = v
        .as_array()
        .ok_or_else(|| format!("{what}: expected a list of numbers"))?;
    arr.iter()
        .enumerate()
        .map(|(i, x)| number(x, &format!("{what}[{i}]")))
        .collect()
}

/// Parses a case from JSON text.
pub fn parse_case(text: &str) -> Result<Case, String> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| format!("case is not valid JSON: {e}"))?;
    let obj = json.as_object().ok_or("case: expected a JSON object")?;

    let opt = obj
        .get("optimizer")
        .and_then(Json::as_object)
        .ok_or("`optimizer`: expected an object")?;
    let name = opt
        .get("name")
        .and_then(Json::as_str)
        .ok_or("`optimizer.name`: expected a string")?;
    let mut config = Config::new(name);
    for (k, v) in opt {
        if k != "name" {
            config.insert(
                k.clone(),
                json_to_value(k, v).map_err(|e| format!("`optimizer.{k}`: {e}"))?,
            );
        }
    }

    let dtype = obj
        .get("dtype")
        .and_then(Json::as_str)
        .ok_or("`dtype`: expected a string")?
        .to_string();

    let mut params = Vec::new();
    for (i, p) in obj
        .get("params")
        .and_then(Json::as_array)
        .ok_or("`params`: expected a list")?
        .iter()
        .enumerate()
    {
        let shape = p
            .get("shape")
            .and_then(Json::as_array)
            .ok_or_else(|| format!("params[{i}].shape: expected a list"))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .map(|d| d as usize)
                    .ok_or_else(|| format!("params[{i}].shape: expected integers"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let data = numbers(
            p.get("data").unwrap_or(&Json::Null),
            &format!("params[{i}].data"),
        )?;
        let numel: usize = shape.iter().product();
        if data.len() != numel {
            return Err(format!(
                "params[{i}].data: {} numbers for shape {shape:?} ({numel} elements)",
                data.len()
            ));
        }
        params.push((shape, data));
    }

    let groups = match obj.get("param_groups") {
        None | Some(Json::Null) => vec![((0..params.len()).collect(), Vec::new())],
        Some(g) => {
            let mut groups = Vec::new();
            for (gi, g) in g
                .as_array()
                .ok_or("`param_groups`: expected a list")?
                .iter()
                .enumerate()
            {
                let g = g
                    .as_object()
                    .ok_or_else(|| format!("param_groups[{gi}]: expected an object"))?;
                let idx = g
                    .get("params")
                    .and_then(Json::as_array)
                    .ok_or_else(|| {
                        format!("param_groups[{gi}].params: expected a list of tensor indices")
                    })?
                    .iter()
                    .map(|x| {
                        x.as_u64()
                            .map(|x| x as usize)
                            .filter(|&x| x < params.len())
                            .ok_or_else(|| {
                                format!("param_groups[{gi}].params: {x} is not a tensor index")
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut overrides = Vec::new();
                for (k, v) in g {
                    if k != "params" {
                        overrides.push((
                            k.clone(),
                            json_to_value(k, v)
                                .map_err(|e| format!("param_groups[{gi}].{k}: {e}"))?,
                        ));
                    }
                }
                groups.push((idx, overrides));
            }
            let mut seen = vec![0usize; params.len()];
            for (idx, _) in &groups {
                for &i in idx {
                    seen[i] += 1;
                }
            }
            if let Some(i) = seen.iter().position(|&n| n != 1) {
                return Err(format!(
                    "param_groups: tensor {i} is in {} groups (must be in exactly one)",
                    seen[i]
                ));
            }
            groups
        }
    };

    let mut steps = Vec::new();
    for (si, s) in obj
        .get("steps")
        .and_then(Json::as_array)
        .ok_or("`steps`: expected a list")?
        .iter()
        .enumerate()
    {
        let grads = s
            .get("grads")
            .and_then(Json::as_array)
            .ok_or_else(|| format!("steps[{si}].grads: expected a list"))?
            .iter()
            .enumerate()
            .map(|(ti, g)| match g {
                Json::Null => Ok(None),
                g => numbers(g, &format!("steps[{si}].grads[{ti}]")).map(Some),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if grads.len() != params.len() {
            return Err(format!(
                "steps[{si}].grads: {} gradients for {} tensors",
                grads.len(),
                params.len()
            ));
        }
        let lr = match s.get("lr") {
            None | Some(Json::Null) => None,
            Some(l) => {
                let l = l
                    .as_array()
                    .ok_or_else(|| format!("steps[{si}].lr: expected a list"))?;
                if l.len() != groups.len() {
                    return Err(format!(
                        "steps[{si}].lr: {} values for {} groups",
                        l.len(),
                        groups.len()
                    ));
                }
                Some(
                    l.iter()
                        .enumerate()
                        .map(|(gi, x)| match x {
                            Json::Null => Ok(None),
                            x => number(x, &format!("steps[{si}].lr[{gi}]")).map(Some),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
        };
        steps.push(Step { grads, lr });
    }

    let eval_params = match obj.get("eval_params") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => return Err("`eval_params`: expected a bool".into()),
    };
    Ok(Case {
        config,
        dtype,
        params,
        groups,
        steps,
        eval_params,
    })
}

/// Printing an element type's values (conversion from and to the case's f64 is `Element`'s).
pub trait ReplayElement: Element {
    /// Shortest text that parses back to this exact value of this type.
    fn write(self, out: &mut String);
}

fn write_special(x: f64, out: &mut String) -> bool {
    if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        return false;
    }
    true
}

impl ReplayElement for f64 {
    fn write(self, out: &mut String) {
        if !write_special(self, out) {
            out.push_str(&format!("{self:?}"));
        }
    }
}

impl ReplayElement for f32 {
    fn write(self, out: &mut String) {
        if !write_special(self as f64, out) {
            out.push_str(&format!("{self:?}"));
        }
    }
}

macro_rules! half_replay {
    ($t:ty) => {
        impl ReplayElement for $t {
            fn write(self, out: &mut String) {
                // The f32 shortest form round-trips through f32 to the same half value.
                <f32 as ReplayElement>::write(self.to_f32(), out);
            }
        }
    };
}
half_replay!(bf16);
half_replay!(f16);

/// An optimizer built from a case's header, with its parameters in the optimizer's tensor order
/// (`order[j]` is the case index of tensor `j`: the optimizer orders tensors group by group).
pub struct Setup<P: Element> {
    pub opt: Optimizer<P>,
    pub order: Vec<usize>,
    pub params: Vec<Vec<P>>,
}

#[allow(dead_code)] // used by tests/replay.rs
impl<P: Element> Setup<P> {
    /// Tensors (optimizer order) back in case order, as f64.
    pub fn snapshot(&self, tensors: &[Vec<P>]) -> Vec<Vec<f64>> {
        let mut out = vec![Vec::new(); self.order.len()];
        for (j, &i) in self.order.iter().enumerate() {
            out[i] = tensors[j].iter().map(|x| x.to_f64()).collect();
        }
        out
    }

    /// Case-order gradients in optimizer order.
    pub fn grads(&self, grads: &[Option<Vec<f64>>]) -> Vec<Option<Vec<P>>> {
        self.order
            .iter()
            .map(|&i| {
                grads[i]
                    .as_ref()
                    .map(|g| g.iter().map(|&x| P::from_f64(x)).collect())
            })
            .collect()
    }
}

/// Builds the optimizer of a case through `Optimizer::build` (the `build_optimizer` path).
pub fn setup<P: Element>(case: &Case) -> Result<Setup<P>, optim_kernels::Error> {
    let order: Vec<usize> = case
        .groups
        .iter()
        .flat_map(|(idx, _)| idx.iter().copied())
        .collect();
    let groups: Vec<ParamGroup> = case
        .groups
        .iter()
        .map(|(idx, overrides)| {
            let specs = idx
                .iter()
                .map(|&i| TensorSpec::new(case.params[i].0.clone()));
            overrides.iter().fold(ParamGroup::new(specs), |g, (k, v)| {
                g.set(k.clone(), v.clone())
            })
        })
        .collect();
    let opt = Optimizer::<P>::build(&groups, &case.config)?;
    let params = order
        .iter()
        .map(|&i| case.params[i].1.iter().map(|&x| P::from_f64(x)).collect())
        .collect();
    Ok(Setup { opt, order, params })
}

/// Runs a case through `build_optimizer` with parameters of type `P` (default state type).
pub fn run_typed<P: ReplayElement>(case: &Case) -> Result<Outcome, optim_kernels::Error> {
    let Setup {
        mut opt,
        order,
        mut params,
    } = setup::<P>(case)?;
    if opt.as_lbfgs().is_some() {
        return Err(optim_kernels::Error::Mode {
            what: "LBFGS",
            reason: "it needs a closure that re-evaluates the loss and gradients \
                     (Optimizer::step_closure) and cannot be replayed from gradient lists",
        });
    }
    let mut grads: Vec<Option<Vec<P>>> = vec![None; order.len()];
    let snapshot = |params: &Vec<Vec<P>>| -> Vec<Vec<f64>> {
        let mut out = vec![Vec::new(); order.len()];
        for (j, &i) in order.iter().enumerate() {
            out[i] = params[j].iter().map(|x| x.to_f64()).collect();
        }
        out
    };
    let mut steps = Vec::with_capacity(case.steps.len());
    for step in &case.steps {
        if let Some(lrs) = &step.lr {
            for (gi, lr) in lrs.iter().enumerate() {
                if let Some(lr) = lr {
                    opt.set_lr(gi, *lr)?;
                }
            }
        }
        for (j, &i) in order.iter().enumerate() {
            grads[j] = step.grads[i]
                .as_ref()
                .map(|g| g.iter().map(|&x| P::from_f64(x)).collect());
        }
        opt.step(&mut params, &grads)?;
        steps.push(snapshot(&params));
    }
    let eval_params = if case.eval_params {
        let mut out = params.clone();
        for (j, (p, o)) in params.iter().zip(out.iter_mut()).enumerate() {
            opt.eval_params_into(j, p, o)?;
        }
        Some(snapshot(&out))
    } else {
        None
    };
    Ok(Outcome { steps, eval_params })
}

/// An error from parsing or running a case, as `replay` prints it after `error:`.
pub fn run_case(case: &Case) -> Result<Outcome, String> {
    let r = match case.dtype.as_str() {
        "f64" => run_typed::<f64>(case),
        "f32" => run_typed::<f32>(case),
        "bf16" => run_typed::<bf16>(case),
        "f16" => run_typed::<f16>(case),
        other => {
            return Err(format!(
                "unknown dtype `{other}` (expected f64, f32, bf16 or f16)"
            ));
        }
    };
    r.map_err(|e| e.to_string())
}

/// The result JSON of REPLAY.md, numbers in the shortest form that parses back to the stored value.
pub fn outcome_json(case: &Case, out: &Outcome) -> String {
    fn tensors(case: &Case, ts: &[Vec<f64>], s: &mut String) {
        s.push('[');
        for (i, t) in ts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('[');
            for (k, &x) in t.iter().enumerate() {
                if k > 0 {
                    s.push(',');
                }
                match case.dtype.as_str() {
                    "f64" => x.write(s),
                    "bf16" => <bf16 as Element>::from_f64(x).write(s),
                    "f16" => <f16 as Element>::from_f64(x).write(s),
                    _ => (x as f32).write(s),
                }
            }
            s.push(']');
        }
        s.push(']');
    }
    let mut s = String::from("{\"steps\":[");
    for (i, step) in out.steps.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"params\":");
        tensors(case, step, &mut s);
        s.push('}');
    }
    s.push(']');
    if let Some(e) = &out.eval_params {
        s.push_str(",\"eval_params\":");
        tensors(case, e, &mut s);
    }
    s.push('}');
    s
}
