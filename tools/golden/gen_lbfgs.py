#!/usr/bin/env python3
"""Generate golden trajectories for torch.optim.LBFGS (torch 2.15).

Run with the reference venv (see tools/golden/README.md):

    ~/refenv/bin/python tools/golden/gen_lbfgs.py

Writes tests/golden/lbfgs/<case>_<f64|f32>.json (compact JSON):

    {"reference", "dtype", "config": {LBFGS keyword arguments},
     "problem": {"kind": "rosenbrock" | "least_squares", "negate": bool,
                 "a": [...], "b": [...], "rows", "cols"   (least squares only)},
     "shapes": [[...], ...], "params": [[...], ...]       (initial tensors),
     "steps": [{"loss", "evals", "n_iter", "func_evals", "params": [[...], ...]}, ...]}

LBFGS is driven by a closure, not by gradient lists: the objective is recomputed
on the Rust side (tests/lbfgs.rs) with the same formulas, in the same dtype. Each
closure sets `p.grad` from an analytic gradient written with elementwise torch ops
(the order the Rust objective mirrors), and counts its calls: `evals` is the number
of closure evaluations in that `step()`, which the crate must reproduce exactly.
`loss` is what `step()` returns (torch's `orig_loss`, the first evaluation of the
step), `n_iter`/`func_evals` are torch's global state counters after the step.

Objectives (the parameters are the flattened concatenation of all tensors, as
LBFGS sees them):
* rosenbrock: sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2 (2-D and chained 10-D),
  start (-1.2, 1, -1.2, 1, ...).
* least_squares: 0.5 * ||A x - b||^2, A 20x8 and b from a seeded N(0,1) generator
  (stored in the file, already rounded to the dtype), x split into tensors [3] and [5].
`negate`: the closure returns -f and -grad f, with maximize=True (the same trajectory
as minimizing f).

Deterministic: ATEN_CPU_CAPABILITY=avx2, one thread, numpy seeds from crc32 of the
case name (shared by the f64 and f32 variants); running it twice gives byte-identical files.
"""

import os

os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from goldjson import jnum, jvec, write_json  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "golden" / "lbfgs"
TORCH_VERSION = torch.__version__.split("+")[0]
EXPECTED_TORCH = "2.15.0"
DTYPES = {"f64": torch.float64, "f32": torch.float32}


def rosenbrock(xs):
    """f and grad f over the flattened concatenation of `xs` (elementwise torch ops)."""
    x = torch.cat([p.reshape(-1) for p in xs])
    a = x[:-1]
    b = x[1:]
    u = b - a * a  # x[i+1] - x[i]^2
    v = 1.0 - a
    terms = 100.0 * (u * u) + v * v
    f = terms[0]
    for k in range(1, terms.numel()):  # sequential sum, as the Rust objective adds
        f = f + terms[k]
    g = torch.zeros_like(x)
    # d/dx[i] of term i: -400 x[i] u[i] - 2 v[i]; d/dx[i+1] of term i: 200 u[i]
    g[:-1] = -400.0 * a * u - 2.0 * v
    g[1:] = g[1:] + 200.0 * u
    return f, g


def least_squares(xs, a_mat, b_vec):
    x = torch.cat([p.reshape(-1) for p in xs])
    rows, cols = a_mat.shape
    r = torch.zeros(rows, dtype=x.dtype)
    for i in range(rows):  # sequential dot products, as the Rust objective computes them
        acc = torch.zeros((), dtype=x.dtype)
        for j in range(cols):
            acc = acc + a_mat[i, j] * x[j]
        r[i] = acc - b_vec[i]
    f = torch.zeros((), dtype=x.dtype)
    for i in range(rows):
        f = f + r[i] * r[i]
    f = 0.5 * f
    g = torch.zeros(cols, dtype=x.dtype)
    for j in range(cols):
        acc = torch.zeros((), dtype=x.dtype)
        for i in range(rows):
            acc = acc + a_mat[i, j] * r[i]
        g[j] = acc
    return f, g


def run_case(name, dtype_name, problem, shapes, x0, config, steps):
    dtype = DTYPES[dtype_name]
    seed = zlib.crc32(name.encode())
    flat0 = torch.tensor(x0, dtype=torch.float64).to(dtype)
    params = []
    off = 0
    for s in shapes:
        n = int(np.prod(s)) if s else 1
        params.append(flat0[off:off + n].clone().reshape(s).requires_grad_(True))
        off += n
    prob = {"kind": problem, "negate": bool(config.get("maximize", False))}
    if problem == "least_squares":
        rng = np.random.default_rng(seed)
        a_mat = torch.tensor(rng.standard_normal((20, off)), dtype=torch.float64).to(dtype)
        b_vec = torch.tensor(rng.standard_normal(20), dtype=torch.float64).to(dtype)
        prob.update({"rows": 20, "cols": off, "a": jvec(a_mat), "b": jvec(b_vec)})
    negate = prob["negate"]
    opt = torch.optim.LBFGS(params, **config)
    count = [0]

    def closure():
        count[0] += 1
        with torch.no_grad():
            if problem == "rosenbrock":
                f, g = rosenbrock(params)
            else:
                f, g = least_squares(params, a_mat, b_vec)
            if negate:
                f, g = -f, -g
            o = 0
            for p in params:
                p.grad = g[o:o + p.numel()].reshape(p.shape).clone()
                o += p.numel()
        return f

    initial = [jvec(p) for p in params]
    out_steps = []
    for _ in range(steps):
        count[0] = 0
        loss = opt.step(closure)
        st = opt.state[params[0]]
        out_steps.append({
            "loss": jnum(loss),
            "evals": count[0],
            "n_iter": int(st["n_iter"]),
            "func_evals": int(st["func_evals"]),
            "params": [jvec(p) for p in params],
        })
    return {
        "reference": f"torch.optim.LBFGS (PyTorch {TORCH_VERSION}, "
        f"{torch.backends.cpu.get_cpu_capability()}), closure with analytic gradients",
        "dtype": dtype_name,
        "config": config,
        "problem": prob,
        "shapes": shapes,
        "params": initial,
        "steps": out_steps,
    }


ROSEN2 = [-1.2, 1.0]
ROSEN10 = [-1.2, 1.0] * 5

# name, problem, shapes, x0, config, steps[, f32 overrides]
#
# f32 overrides: float32 trajectories are reproducible only while they stay away from f32's
# noise floor and from chaotic stretches. Near convergence, whether |loss - prev_loss| <
# tolerance_change, or which line-search branch is taken, is decided by one ulp of a dot
# product, and torch's summation order (MKL sdot, fused add_) is not ours; fixed-step lr=1 on
# Rosenbrock and the long 10-D strong-Wolfe run amplify ulps without bound. So those f32
# variants run fewer steps or iterations (the f64 variants run the full trajectory).
CASES = [
    ("rosen2_default", "rosenbrock", [[2]], ROSEN2, {}, 3, {"steps": 1}),
    ("rosen2_lr01", "rosenbrock", [[2]], ROSEN2, {"lr": 0.1}, 4),
    ("rosen2_wolfe", "rosenbrock", [[2]], ROSEN2, {"line_search_fn": "strong_wolfe"}, 4),
    ("rosen2_wolfe_maximize", "rosenbrock", [[2]], ROSEN2,
     {"line_search_fn": "strong_wolfe", "maximize": True}, 3),
    ("rosen10_wolfe_hist3", "rosenbrock", [[4], [2, 3]], ROSEN10,
     {"line_search_fn": "strong_wolfe", "history_size": 3}, 5, {"steps": 1}),
    ("rosen10_hist3_lr02", "rosenbrock", [[4], [2, 3]], ROSEN10,
     {"lr": 0.2, "history_size": 3, "max_iter": 10}, 5),
    ("rosen10_wolfe_limits", "rosenbrock", [[10]], ROSEN10,
     {"line_search_fn": "strong_wolfe", "max_iter": 4, "max_eval": 6}, 5),
    # max_iter=1 gives max_eval=1, so the line search runs with max_ls=0: torch keeps t=0
    # whenever the first trial does not lower the loss (the parameters never move here).
    ("rosen2_wolfe_maxiter1", "rosenbrock", [[2]], ROSEN2,
     {"line_search_fn": "strong_wolfe", "max_iter": 1}, 3),
    ("rosen2_wolfe_maxiter1_maxeval4", "rosenbrock", [[2]], ROSEN2,
     {"line_search_fn": "strong_wolfe", "max_iter": 1, "max_eval": 4}, 6),
    ("lsq_default", "least_squares", [[3], [5]], [0.0] * 8, {}, 3,
     {"config": {"max_iter": 6}, "steps": 2}),
    ("lsq_wolfe_hist2", "least_squares", [[3], [5]], [0.5] * 8,
     {"line_search_fn": "strong_wolfe", "history_size": 2}, 3,
     {"config": {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 6}, "steps": 2}),
    ("lsq_maximize_lr05", "least_squares", [[3], [5]], [0.0] * 8,
     {"lr": 0.5, "maximize": True, "max_iter": 7}, 3),
    ("lsq_tolerance_change", "least_squares", [[3], [5]], [0.0] * 8,
     {"tolerance_change": 1e-2, "max_iter": 50}, 3),
    ("lsq_tolerance_grad", "least_squares", [[3], [5]], [0.0] * 8,
     {"tolerance_grad": 1e-1, "line_search_fn": "strong_wolfe"}, 3),
    ("lsq_max_eval", "least_squares", [[3], [5]], [1.0] * 8,
     {"max_iter": 10, "max_eval": 3}, 4),
]


def main():
    if TORCH_VERSION != EXPECTED_TORCH:
        print(f"warning: torch {TORCH_VERSION}, the files were made with {EXPECTED_TORCH}")
    OUT.mkdir(parents=True, exist_ok=True)
    written = set()
    for name, problem, shapes, x0, config, steps, *f32 in CASES:
        for dt in DTYPES:
            cfg, n = config, steps
            if dt == "f32" and f32:
                cfg = f32[0].get("config", config)
                n = f32[0].get("steps", steps)
            data = run_case(name, dt, problem, shapes, x0, cfg, n)
            fname = f"{name}_{dt}.json"
            write_json(OUT / fname, data)
            written.add(fname)
            ev = [s["evals"] for s in data["steps"]]
            print(f"{fname}: loss {[s['loss'] for s in data['steps']]} evals {ev}")
    for f in OUT.glob("*.json"):
        if f.name not in written:
            print(f"warning: {f} was not produced by this script")


if __name__ == "__main__":
    main()
