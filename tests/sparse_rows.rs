//! Row-sparse SparseAdam trajectories (`tests/golden/sparse_rows/`, from
//! `tools/golden/gen_sparse_rows.py`): torch 2.15's `SparseAdam` stepped with uncoalesced
//! `sparse_coo_tensor` gradients of `sparse_dim = 1` (repeated rows in batch order, explicit zero
//! values, empty gradients), replayed through `build_optimizer` and `step_sparse`.
//!
//! `step_sparse` wants its rows sorted ascending; the files keep torch's batch order, so the rows
//! (with their values) are sorted stably here, and repeated rows are summed in batch order. torch's
//! `coalesce()` sums them in the order its sort leaves them; where that order differs, an f32 sum
//! of two or three values can differ by one ulp of the summed gradient (|g| ≲ 4 here: ≤ 2.4e-7
//! absolute). That changes `m` by (1 − β₁)·ulp and `v` by 2(1 − β₂)|g|·ulp, and the update
//! `step_size·m/(√v + ε)` by about one ulp of itself relative (its magnitude is at most
//! `step_size·(1 − β₁)/√(1 − β₂)`, ≤ lr·1.6 in these cases) — ≤ 0.05 · 2⁻²⁴ ≈ 3e-9 per step,
//! far inside the f32 tolerance of `tests/replay.rs` (`2e-6·|ref| + 2e-7`) used here, which
//! covers MKL's ±1-ulp `sqrt` over the steps as for the dense SparseAdam files. In f64 the sums
//! differ by at most one f64 ulp and the tolerance is replay's f64 one (`1e-12·|ref| + 1e-13`).

mod common;

#[path = "../examples/replay/case.rs"]
#[allow(dead_code)]
mod case;

use optim_kernels::Element;
use serde_json::Value as Json;
use std::path::Path;

/// Replays one file; returns the largest error as a multiple of the tolerance (≤ 1 passes).
fn replay<P: Element>(file: &Path, json: &Json, (rel, abs): (f64, f64)) -> f64 {
    let parsed = case::parse_case(&json["case"].to_string()).unwrap();
    let mut s = case::setup::<P>(&parsed).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut worst = 0.0f64;
    for (si, step) in json["steps"].as_array().unwrap().iter().enumerate() {
        if let Some(lrs) = step.get("lr").and_then(Json::as_array) {
            for (gi, lr) in lrs.iter().enumerate() {
                s.opt.set_lr(gi, case::number(lr, "lr").unwrap()).unwrap();
            }
        }
        for (ti, g) in step["grads"].as_array().unwrap().iter().enumerate() {
            if g.is_null() {
                continue;
            }
            let rows: Vec<usize> = g["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_u64().unwrap() as usize)
                .collect();
            let values = case::numbers(&g["values"], "values").unwrap();
            let row_len = if rows.is_empty() {
                0
            } else {
                values.len() / rows.len()
            };
            // Stable sort: repeated rows stay in batch order.
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by_key(|&k| rows[k]);
            let sorted_rows: Vec<usize> = order.iter().map(|&k| rows[k]).collect();
            let sorted_values: Vec<P> = order
                .iter()
                .flat_map(|&k| &values[k * row_len..(k + 1) * row_len])
                .map(|&x| P::from_f64(x))
                .collect();
            let j = s.order.iter().position(|&i| i == ti).unwrap();
            let before = s.opt.tensor_step(j).unwrap();
            s.opt
                .step_sparse(j, &mut s.params[j], &sorted_rows, &sorted_values)
                .unwrap_or_else(|e| panic!("{}: step {si}, tensor {ti}: {e}", file.display()));
            assert_eq!(
                s.opt.tensor_step(j),
                Some(before + 1),
                "every gradient counts"
            );
        }
        let ours = s.snapshot(&s.params);
        for (ti, (o, e)) in ours
            .iter()
            .zip(step["params"].as_array().unwrap())
            .enumerate()
        {
            let e = e.as_array().unwrap();
            assert_eq!(o.len(), e.len());
            for (k, (&x, y)) in o.iter().zip(e).enumerate() {
                let y = case::number(y, "expected value").unwrap();
                let err = if x == y {
                    0.0
                } else {
                    (x - y).abs() / (rel * y.abs() + abs)
                };
                assert!(
                    err <= 1.0,
                    "{}: step {si}, tensor {ti}, element {k}: ours {x:e}, torch {y:e} ({err:.2}x)",
                    file.display()
                );
                worst = worst.max(err);
            }
        }
    }
    worst
}

#[test]
fn row_sparse_trajectories_match_torch() {
    let files = common::golden_files("tests/golden/sparse_rows");
    assert!(files.len() >= 6, "expected the sparse_rows golden set");
    let mut report = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in &files {
        let json: Json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let dtype = json["case"]["dtype"].as_str().unwrap().to_string();
        for step in json["steps"].as_array().unwrap() {
            for g in step["grads"].as_array().unwrap() {
                let Some(rows) = g.get("rows").and_then(Json::as_array) else {
                    seen.insert("missing");
                    continue;
                };
                let rows: Vec<u64> = rows.iter().map(|r| r.as_u64().unwrap()).collect();
                if rows.is_empty() {
                    seen.insert("empty");
                }
                if rows.windows(2).any(|w| w[0] > w[1]) {
                    seen.insert("unsorted");
                }
                let mut sorted = rows.clone();
                sorted.sort_unstable();
                if sorted.windows(2).any(|w| w[0] == w[1]) {
                    seen.insert("repeated");
                }
            }
        }
        let worst = match dtype.as_str() {
            "f64" => replay::<f64>(file, &json, (1e-12, 1e-13)),
            "f32" => replay::<f32>(file, &json, (2e-6, 2e-7)),
            d => panic!("{}: dtype {d}", file.display()),
        };
        report.push(format!(
            "{worst:>9.2e}  {}",
            file.file_name().unwrap().to_string_lossy()
        ));
    }
    for what in ["missing", "empty", "unsorted", "repeated"] {
        assert!(seen.contains(what), "no row-sparse golden step with {what}");
    }
    println!(
        "worst error / tolerance per row-sparse file:\n{}",
        report.join("\n")
    );
}
