#!/usr/bin/env python3
"""Row-sparse golden trajectories for SparseAdam (optim-kernels `step_sparse`).

Run with the reference venv (see tools/golden/README.md):

    ~/refenv/bin/python tools/golden/gen_sparse_rows.py

Writes tests/golden/sparse_rows/<name>_<dtype>.json:

    {"reference": "...",
     "case": {REPLAY.md case header: "optimizer", "dtype", "params" (shape + data),
              "param_groups" (optional), "steps": []},
     "steps": [{"grads": [{"rows": [...], "values": [...]} or null, ...],   one per tensor
                "lr": [...]  (optional: each group's lr, set before the step),
                "params": [[...], ...]}]}                                    after the step

Each gradient is what nn.Embedding(sparse=True) produces: a torch.sparse_coo_tensor with
sparse_dim = 1 (row indices into the tensor's first dimension, `values` holding one row per index,
flattened row-major), uncoalesced: rows in batch order with repeats. torch's SparseAdam coalesces
(sums repeated rows) itself. Every given value is present, explicit zeros included (rows of zeros
are in the data). `rows` may be empty (nnz = 0: the step counts, nothing moves).

Deterministic (fixed seeds, one thread, pinned ATEN_CPU_CAPABILITY): re-running reproduces the files
byte for byte.
"""

import os

os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from goldjson import jcfg, jvec, write_json  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "golden" / "sparse_rows"
TORCH_VERSION = torch.__version__.split("+")[0]
CAP_NOTE = f"ATEN_CPU_CAPABILITY={torch.backends.cpu.get_cpu_capability()}"
DTYPES = {"f64": torch.float64, "f32": torch.float32}


# Each spec: shapes; kwargs; groups (None or [(tensor indices, overrides)]); steps; lr_sched
# {step: [lr per group]}; per step and tensor, the batch size (rows drawn with repeats from a
# small vocabulary so that rows repeat), None (no gradient) or 0 (an empty sparse gradient).
SPECS = [
    # An embedding table, a 3-D tensor (rows of 2x3) and a 1-D tensor (rows are elements).
    dict(name="embedding_default", shapes=[[12, 5], [6, 2, 3], [7]], kwargs={"lr": 0.01},
         groups=None, lr_sched={3: [0.005]},
         batches=[[8, 5, 4], [10, None, 6], [6, 4, 0], [0, 3, 5], [9, 6, 3], [7, 2, None]]),
    # Long rows: the SIMD driver's blocks and tails; repeated rows summed in chunks of 256.
    dict(name="long_rows_groups", shapes=[[5, 70], [3, 300], [9, 8]],
         kwargs={"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6},
         groups=[([0, 2], {"lr": 0.01}), ([1], {"betas": (0.5, 0.9), "eps": 1e-4})],
         lr_sched={2: [0.02, 0.005], 4: [0.005, 0.01]},
         batches=[[6, 4, 12], [3, 5, None], [None, 2, 7], [7, 0, 9], [4, 6, 5]]),
    dict(name="maximize", shapes=[[10, 4], [8]],
         kwargs={"lr": 0.05, "betas": (0.5, 0.9), "maximize": True},
         groups=None, lr_sched={2: [0.02]},
         batches=[[9, 6], [5, 0], [7, 9], [None, 4], [8, 8]]),
]


def make_data(spec):
    rng = np.random.default_rng(zlib.crc32(spec["name"].encode()))
    params = [rng.standard_normal(int(np.prod(s))) for s in spec["shapes"]]
    steps = []
    for si, batch in enumerate(spec["batches"]):
        row = []
        for ti, (k, shape) in enumerate(zip(batch, spec["shapes"])):
            if k is None:
                row.append(None)
                continue
            vocab = shape[0]
            # Repeats: draw from half the rows (at least 1) so that most batches repeat some.
            rows = rng.integers(0, max(1, (vocab + 1) // 2), size=k) * 2 % vocab
            row_len = int(np.prod(shape[1:]))
            values = rng.standard_normal((k, row_len))
            if k >= 3:
                values[1] = 0.0  # an explicit zero row: present, as in any sparse tensor
                values[2, 0] = -0.0
            row.append((rows.tolist(), values))
        steps.append(row)
    return params, steps


def sparse_grad(rows, values, shape, dtype):
    idx = torch.tensor([rows], dtype=torch.int64).reshape(1, len(rows))
    vals = torch.tensor(values, dtype=torch.float64).to(dtype).reshape([len(rows)] + list(shape[1:]))
    return torch.sparse_coo_tensor(idx, vals, shape, check_invariants=True)


def generate(spec, dtype_name):
    dtype = DTYPES[dtype_name]
    params_np, steps_np = make_data(spec)
    shapes = spec["shapes"]
    ps = [torch.tensor(p, dtype=torch.float64).to(dtype).reshape(s) for p, s in zip(params_np, shapes)]
    init = [p.clone() for p in ps]
    if spec["groups"] is None:
        target = ps
    else:
        target = [dict({"params": [ps[i] for i in idx]}, **ov) for idx, ov in spec["groups"]]
    opt = torch.optim.SparseAdam(target, **spec["kwargs"])
    out_steps = []
    for si, row in enumerate(steps_np):
        st = {}
        if si in spec["lr_sched"]:
            lrs = spec["lr_sched"][si]
            for g, v in zip(opt.param_groups, lrs):
                g["lr"] = v
            st["lr"] = [jcfg(float(v)) for v in lrs]
        grads = []
        for p, g, shape in zip(ps, row, shapes):
            if g is None:
                p.grad = None
                grads.append(None)
                continue
            rows, values = g
            p.grad = sparse_grad(rows, values, shape, dtype)
            grads.append({"rows": rows, "values": jvec(p.grad._values())})
        opt.step()
        st = dict({"grads": grads}, **st)
        st["params"] = [jvec(p) for p in ps]
        out_steps.append(st)
    case = {"optimizer": dict({"name": "SparseAdam"}, **{k: jcfg(v) for k, v in spec["kwargs"].items()}),
            "dtype": dtype_name,
            "params": [{"shape": list(s), "data": jvec(p)} for s, p in zip(shapes, init)]}
    if spec["groups"] is not None:
        case["param_groups"] = [dict({"params": list(idx)}, **{k: jcfg(v) for k, v in ov.items()})
                                for idx, ov in spec["groups"]]
    case["steps"] = []
    ref = (f"torch {TORCH_VERSION} torch.optim.SparseAdam (its only path, torch/optim/_functional.py "
           f"sparse_adam) with uncoalesced sparse_coo_tensor gradients of sparse_dim 1 (repeated rows "
           f"in batch order, as nn.Embedding(sparse=True) produces), {CAP_NOTE}")
    return {"reference": ref, "case": case, "steps": out_steps}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        for dtype_name in DTYPES:
            obj = generate(spec, dtype_name)
            path = OUT / f"{spec['name']}_{dtype_name}.json"
            write_json(path, obj)
            print(f"{path.relative_to(REPO)}  {path.stat().st_size} B")


if __name__ == "__main__":
    main()
