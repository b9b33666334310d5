#!/usr/bin/env python3
"""Generate golden trajectories for the shape-aware torch.optim rules,
torch.optim.Adafactor and torch.optim.Muon (torch 2.15).

Run with the reference venv (see tools/golden/README.md):

    ~/refenv/bin/python tools/golden/gen_torch_shaped.py

Writes (only files named adafactor_* / muon_*):
    tests/golden/<name>_<f64|f32>.json   {"reference", "case", "expected"}
    tests/golden/errors/<name>.json      {"reference", "error_key" | "error_tensor", "case"}

Same conventions as gen_golden.py (its jnum/jvec/jcfg/write_json are copied, not
imported): ATEN_CPU_CAPABILITY=avx2 pinned before torch is imported, one thread,
numpy seeds from crc32 of the case name, 6 steps, tensor 1 without a gradient at
step 2, per-group lr changes before steps 3 and 5. Deterministic: running it twice
gives byte-identical files.

Shapes matter here: Adafactor factors tensors with >= 2 dims over their last two
(2-D, 3-D) and keeps a full second moment for 1-D and 0-D ones; Muon takes only
2-D parameters (wide, tall -- the transposed Newton-Schulz path -- and square).
"""

import os

os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import sys  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from goldjson import jcfg, jvec, write_json  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "golden"
OUT_ERR = OUT / "errors"

TORCH_VERSION = torch.__version__.split("+")[0]
CPU_CAP = torch.backends.cpu.get_cpu_capability()
CAP_NOTE = f"ATEN_CPU_CAPABILITY={CPU_CAP}"
EXPECTED_TORCH = "2.15.0"

N_STEPS = 6
DTYPES = {"f64": torch.float64, "f32": torch.float32}

ADAFACTOR_SHAPES = [[3, 4], [5], [2, 3, 4]]
ADAFACTOR_EDGE_SHAPES = [[1, 7], [], [7, 1], [2, 1, 3]]
MUON_SHAPES = [[4, 6], [7, 3], [12, 20]]
MUON_SQUARE_SHAPES = [[6, 6], [3, 8], [9, 4]]


# --------------------------------------------------------------------------
# Case specifications
# --------------------------------------------------------------------------
#
#   name      base file name (dtype suffix added)
#   opt       "Adafactor" | "Muon"
#   shapes    tensor shapes
#   kwargs    constructor keyword arguments
#   groups    None (one group) or [(tensor indices, overrides)]
#   late      tensor indices without a gradient on step 0
#   lr_sched  {step index: [lr per group]}
#   scale     optional per-tensor gradient multiplier
#
# Always: tensor 1 has no gradient at step index 2.

G2 = lambda lr0, ov1: [([0, 2], {"lr": lr0}), ([1], ov1)]  # noqa: E731

SPECS = [
    # ------------------------------------------------------------ Adafactor
    dict(name="adafactor_default", opt="Adafactor", shapes=ADAFACTOR_SHAPES, kwargs={},
         groups=None, late=[2], lr_sched={3: [0.005], 5: [0.002]}),
    dict(name="adafactor_wd_maximize_groups", opt="Adafactor", shapes=ADAFACTOR_SHAPES,
         kwargs={"lr": 0.02, "weight_decay": 0.1, "maximize": True},
         groups=G2(0.05, {"weight_decay": 0.0, "beta2_decay": -0.5}), late=[1],
         lr_sched={3: [0.03, 0.01], 5: [0.01, 0.005]}),
    dict(name="adafactor_eps_d", opt="Adafactor", shapes=ADAFACTOR_SHAPES,
         kwargs={"lr": 0.5, "eps": (1e-4, 0.05), "d": 2.0, "beta2_decay": -0.6},
         groups=G2(0.3, {"eps": (None, 1e-2), "d": 1.5}), late=[],
         lr_sched={3: [0.2, 0.4], 5: [0.1, 0.2]}, scale=[1.0, 1e-3, 10.0]),
    dict(name="adafactor_foreach_wd", opt="Adafactor", shapes=ADAFACTOR_SHAPES,
         kwargs={"lr": 0.05, "weight_decay": 0.01, "foreach": True},
         groups=G2(0.1, {"maximize": True}), late=[0],
         lr_sched={3: [0.05, 0.02], 5: [0.02, 0.01]}),
    dict(name="adafactor_edge_shapes", opt="Adafactor", shapes=ADAFACTOR_EDGE_SHAPES,
         kwargs={"lr": 0.1, "weight_decay": 0.05, "beta2_decay": 0.0},
         groups=None, late=[3], lr_sched={3: [0.05], 5: [0.02]}),
    # ------------------------------------------------------------ Muon
    dict(name="muon_default", opt="Muon", shapes=MUON_SHAPES, kwargs={},
         groups=None, late=[2], lr_sched={3: [5e-4], 5: [2e-4]}),
    dict(name="muon_groups_original", opt="Muon", shapes=MUON_SHAPES,
         kwargs={"lr": 0.02, "weight_decay": 0.01, "adjust_lr_fn": "original"},
         groups=G2(0.05, {"weight_decay": 0.0, "momentum": 0.9}), late=[1],
         lr_sched={3: [0.03, 0.01], 5: [0.01, 0.005]}),
    dict(name="muon_match_rms_adamw", opt="Muon", shapes=MUON_SHAPES,
         kwargs={"lr": 0.01, "adjust_lr_fn": "match_rms_adamw", "nesterov": False},
         groups=G2(0.02, {"nesterov": True, "ns_steps": 3}), late=[0],
         lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}),
    dict(name="muon_spectral_unclamped", opt="Muon", shapes=MUON_SQUARE_SHAPES,
         kwargs={"lr": 0.02, "adjust_lr_fn": "spectral_unclamped", "momentum": 0.5,
                 "weight_decay": 0.2},
         groups=None, late=[], lr_sched={3: [0.01], 5: [0.005]}),
    dict(name="muon_ns_variants", opt="Muon", shapes=MUON_SHAPES,
         kwargs={"lr": 0.02, "ns_steps": 1, "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-3,
                 "momentum": 0.0},
         groups=G2(0.01, {"ns_steps": 0, "eps": 1e-7}), late=[2],
         lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}, scale=[1e-4, 1.0, 1.0]),
]


def torch_class(opt):
    return {"Adafactor": torch.optim.Adafactor, "Muon": torch.optim.Muon}[opt]


# --------------------------------------------------------------------------
# Data and the reference run
# --------------------------------------------------------------------------

def numel(s):
    return int(np.prod(s)) if s else 1


def make_data(spec):
    seed = zlib.crc32(spec["name"].encode())
    rng = np.random.default_rng(seed)
    shapes = spec["shapes"]
    params = [rng.standard_normal(numel(s)) for s in shapes]
    scale = spec.get("scale", [1.0] * len(shapes))
    grads = []
    for step in range(N_STEPS):
        row = []
        for i, s in enumerate(shapes):
            g = rng.standard_normal(numel(s)) * scale[i]
            if (step == 0 and i in spec["late"]) or (step == 2 and i == 1):
                g = None
            row.append(g)
        grads.append(row)
    return params, grads


def run_reference(spec, kwargs, params_np, grads_np, dtype):
    shapes = spec["shapes"]
    ps = [torch.tensor(p, dtype=torch.float64).to(dtype).reshape(s) for p, s in zip(params_np, shapes)]
    init = [p.clone() for p in ps]
    grads = [[None if g is None else torch.tensor(g, dtype=torch.float64).to(dtype).reshape(s)
              for g, s in zip(row, shapes)] for row in grads_np]
    if spec["groups"] is None:
        target = ps
    else:
        target = [dict({"params": [ps[i] for i in idx]}, **ov) for idx, ov in spec["groups"]]
    opt = torch_class(spec["opt"])(target, **kwargs)
    out = []
    for step in range(N_STEPS):
        if step in spec["lr_sched"]:
            lrs = spec["lr_sched"][step]
            assert len(lrs) == len(opt.param_groups)
            for g, v in zip(opt.param_groups, lrs):
                g["lr"] = v
        for p, g in zip(ps, grads[step]):
            p.grad = None if g is None else g.clone()
        opt.step()
        out.append([p.detach().clone() for p in ps])
    return out, init, grads


def max_rel(a_steps, b_steps):
    m = 0.0
    for a, b in zip(a_steps, b_steps):
        for x, y in zip(a, b):
            x = x.to(torch.float64)
            y = y.to(torch.float64)
            d = ((x - y).abs() / y.abs().clamp(min=1e-30)).max().item()
            m = max(m, d)
    return m


def build_case(spec, kwargs, dtype_name, init, grads):
    case = {"optimizer": dict({"name": spec["opt"]}, **{k: jcfg(v) for k, v in kwargs.items()}),
            "dtype": dtype_name,
            "params": [{"shape": list(s), "data": jvec(p)} for s, p in zip(spec["shapes"], init)]}
    if spec["groups"] is not None:
        case["param_groups"] = [dict({"params": list(idx)}, **{k: jcfg(v) for k, v in ov.items()})
                                for idx, ov in spec["groups"]]
    steps = []
    for step in range(N_STEPS):
        st = {"grads": [None if g is None else jvec(g) for g in grads[step]]}
        if step in spec["lr_sched"]:
            st["lr"] = [jcfg(float(v)) for v in spec["lr_sched"][step]]
        steps.append(st)
    case["steps"] = steps
    return case


def generate_case(spec, dtype_name):
    dtype = DTYPES[dtype_name]
    params_np, grads_np = make_data(spec)
    opt = spec["opt"]
    kwargs = dict(spec["kwargs"])
    if opt == "Adafactor":
        path = ("_multi_tensor_adafactor, foreach=True" if kwargs.get("foreach")
                else "_single_tensor_adafactor, the default path")
    else:
        path = "_single_tensor_muon, its only path; Newton-Schulz in bfloat16"
    ref = f"torch {TORCH_VERSION} torch.optim.{opt} ({path}), {CAP_NOTE}"
    steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype)
    # Sanity: the same (rounded) inputs in float64 must agree closely.
    init_np = [p.to(torch.float64).reshape(-1).numpy() for p in init]
    grads64 = [[None if g is None else g.to(torch.float64).reshape(-1).numpy() for g in row]
               for row in grads]
    ref64, _, _ = run_reference(spec, kwargs, init_np, grads64, torch.float64)
    dev = max_rel(steps, ref64)
    case = build_case(spec, kwargs, dtype_name, init, grads)
    expected = {"steps": [{"params": [jvec(p) for p in snap]} for snap in steps]}
    return {"reference": ref, "case": case, "expected": expected}, dev


# --------------------------------------------------------------------------
# Error cases: the reference really raises (at construction or at the first step)
# --------------------------------------------------------------------------

P3 = ([3], [0.5, -1.0, 2.0], [0.25, -0.5, 1.0])
M23 = ([2, 3], [0.5, -1.0, 2.0, 0.1, 0.2, -0.3], [0.25, -0.5, 1.0, 0.1, -0.1, 0.3])

ERROR_SPECS = [
    # name, optimizer, kwargs, tensors (shape, data, grad), ("key", k) | ("tensor", i)
    ("adafactor_negative_lr", "Adafactor", {"lr": -0.01}, [P3], ("key", "lr")),
    ("adafactor_positive_beta2_decay", "Adafactor", {"beta2_decay": 0.5}, [P3],
     ("key", "beta2_decay")),
    ("adafactor_negative_eps1", "Adafactor", {"eps": (-1e-30, 1e-3)}, [P3], ("key", "eps[0]")),
    ("adafactor_negative_eps2", "Adafactor", {"eps": (None, -1e-3)}, [P3], ("key", "eps[1]")),
    ("adafactor_d_below_one", "Adafactor", {"d": 0.5}, [P3], ("key", "d")),
    ("adafactor_negative_weight_decay", "Adafactor", {"weight_decay": -0.1}, [P3],
     ("key", "weight_decay")),
    ("adafactor_unknown_key_betas", "Adafactor", {"betas": (0.9, 0.999)}, [P3], ("key", "betas")),
    ("adafactor_empty_tensor", "Adafactor", {}, [([0, 3], [], [])], ("tensor", 0)),
    ("muon_negative_lr", "Muon", {"lr": -0.01}, [M23], ("key", "lr")),
    ("muon_negative_momentum", "Muon", {"momentum": -0.9}, [M23], ("key", "momentum")),
    ("muon_negative_weight_decay", "Muon", {"weight_decay": -0.1}, [M23], ("key", "weight_decay")),
    ("muon_unknown_adjust_lr_fn", "Muon", {"adjust_lr_fn": "rms"}, [M23], ("key", "adjust_lr_fn")),
    ("muon_unknown_key_maximize", "Muon", {"maximize": True}, [M23], ("key", "maximize")),
    ("muon_unknown_key_foreach", "Muon", {"foreach": False}, [M23], ("key", "foreach")),
    ("muon_ns_steps_100", "Muon", {"ns_steps": 100}, [M23], ("key", "ns_steps")),
    ("muon_two_ns_coefficients", "Muon", {"ns_coefficients": (3.4445, -4.775)}, [M23],
     ("key", "ns_coefficients")),
    ("muon_bias_1d", "Muon", {}, [M23, P3], ("tensor", 1)),
    ("muon_scalar_0d", "Muon", {}, [([], [0.5], [0.25])], ("tensor", 0)),
    ("muon_3d", "Muon", {}, [([1, 2, 3], M23[1], M23[2])], ("tensor", 0)),
]


def generate_error(name, opt, kwargs, tensors, expect):
    ps = [torch.tensor(d, dtype=torch.float64).reshape(s) for s, d, _ in tensors]
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    try:
        o = torch_class(opt)(ps, **kwargs)
        when = "step() raises"
        for p, (s, _, g) in zip(ps, tensors):
            p.grad = torch.tensor(g, dtype=torch.float64).reshape(s)
        o.step()
    except (ValueError, AssertionError, TypeError, RuntimeError, ZeroDivisionError) as e:
        if "o" not in locals():
            when = "raises"
        msg = str(e).replace("\n", " ").strip()
        ref = f"torch {TORCH_VERSION} torch.optim.{opt}({args}) {when} {type(e).__name__}"
        if msg:
            ref += f": {msg}"
    else:
        return None
    case = {"optimizer": dict({"name": opt}, **{k: jcfg(v) for k, v in kwargs.items()}),
            "dtype": "f64",
            "params": [{"shape": s, "data": d} for s, d, _ in tensors],
            "steps": [{"grads": [g for _, _, g in tensors]}]}
    kind, value = expect
    return {"reference": ref, f"error_{kind}": value, "case": case}


# --------------------------------------------------------------------------
# --ns-flips: how far PyTorch's bf16 Newton-Schulz departs from the crate's order
# --------------------------------------------------------------------------

def _bf16(x):
    """f32 -> bf16 (nearest, ties to even) -> f32."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32)


def _mm_in_order(a, b):
    """f32 product, each c[i][j] summed over k in order without FMA (the crate's kernel)."""
    c = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        c = (c + (a[:, k:k + 1] * b[k:k + 1, :]).astype(np.float32)).astype(np.float32)
    return c


def _ns_in_order(g, coef=(3.4445, -4.7750, 2.0315), steps=5, eps=1e-7):
    """src/rules/muon.rs's Newton-Schulz: PyTorch's bf16 rounding points, sums in order."""
    a, b, c = (np.float32(v) for v in coef)
    x = _bf16(g.astype(np.float32))
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T.copy()
    n = _bf16(np.float32(np.sqrt((x.astype(np.float64) ** 2).sum())))
    x = _bf16(x / _bf16(max(n, np.float32(eps))))
    for _ in range(steps):
        m = _bf16(_mm_in_order(x, x.T.copy()))
        nn = _bf16(b * m + c * _mm_in_order(m, m))
        x = _bf16(a * x + _mm_in_order(nn, x))
    return x.T if tall else x


def ns_flips():
    from torch.optim._muon import _zeropower_via_newtonschulz as ns
    rng = np.random.default_rng(1)
    for shape, trials in [((4, 6), 300), ((7, 3), 300), ((12, 20), 300), ((5, 5), 300),
                          ((32, 48), 40)]:
        worst, differ = 0.0, 0
        for _ in range(trials):
            g = rng.standard_normal(shape)
            o = ns(torch.tensor(g, dtype=torch.float32), (3.4445, -4.7750, 2.0315), 5, 1e-7)
            o = o.float().numpy()
            d = float(np.abs(o - _ns_in_order(g)).max() / np.abs(o).max())
            differ += d > 0
            worst = max(worst, d)
        print(f"{shape}: {differ}/{trials} matrices differ, max|dO|/max|O| = {worst:.4f}")


def main():
    if "--ns-flips" in sys.argv[1:]:
        ns_flips()
        return
    if TORCH_VERSION != EXPECTED_TORCH:
        print(f"warning: torch {TORCH_VERSION} installed, goldens are specified for {EXPECTED_TORCH}",
              file=sys.stderr)
    written = set()
    for spec in SPECS:
        for dtype_name in ("f64", "f32"):
            obj, dev = generate_case(spec, dtype_name)
            fname = f"{spec['name']}_{dtype_name}.json"
            limit = 1e-12 if dtype_name == "f64" else (5e-2 if spec["opt"] == "Muon" else 1e-3)
            if dev > limit:
                raise SystemExit(f"{fname}: f{dtype_name} run deviates from float64 by {dev:.3e}")
            write_json(OUT / fname, obj)
            written.add(OUT / fname)
            print(f"{fname:42s} rel.dev vs float64 {dev:.2e}")
    for name, opt, kwargs, tensors, expect in ERROR_SPECS:
        obj = generate_error(name, opt, kwargs, tensors, expect)
        if obj is None:
            raise SystemExit(f"errors/{name}: torch does not raise")
        write_json(OUT_ERR / f"{name}.json", obj)
        written.add(OUT_ERR / f"{name}.json")
        print(f"errors/{name + '.json':36s} {obj['reference']}")
    ours = [p for d in (OUT, OUT_ERR) for p in sorted(d.glob("*.json"))
            if p.name.startswith(("adafactor_", "muon_"))]
    for p in ours:
        if p not in written:
            print(f"warning: {p.relative_to(REPO)} was not produced by this run", file=sys.stderr)
    print(f"{len([p for p in written if p.parent == OUT])} golden cases, "
          f"{len([p for p in written if p.parent == OUT_ERR])} error cases, {CAP_NOTE}")


if __name__ == "__main__":
    main()
