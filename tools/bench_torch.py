#!/usr/bin/env python3
"""Time one PyTorch optimizer step on the workloads of examples/throughput.rs.

    ~/refenv/bin/python tools/bench_torch.py [--rule R] [--dtype D] [--n N] [--impl I] [--quick]

One thread (torch.set_num_threads(1)), one parameter tensor of n elements with `.grad` set, the
same data and hyperparameters as the Rust example. Prints one JSON line per
(rule, dtype, n, impl), in the format of `cargo run --release --example throughput -- --json`
plus `impl` and `state_dtype`:

    {"rule":"adamw","dtype":"f32","n":1048576,"impl":"torch-fused","ns_per_elem":0.41,
     "bytes_per_elem":28,"gbps":68.3,"state_dtype":"f32"}

(one line each; no `limit_ns_per_elem`/`ratio`: the streaming limit is the Rust example's).

Rule keys and implementations (hyperparameters: examples/throughput.rs's `rules()`; the DEFAULT
structs there are torch's / the reference package's defaults):
  sgd                 torch.optim.SGD(lr=1e-3)
  sgd_momentum        torch.optim.SGD(lr=1e-3, momentum=0.9)
  adam                torch.optim.Adam()                                  (lr 1e-3)
  adamw               torch.optim.AdamW()                                 (lr 1e-3, wd 1e-2)
  lion                lion_pytorch.Lion(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01)
  rmsprop             torch.optim.RMSprop()                               (lr 1e-2, alpha 0.99)
  adagrad             torch.optim.Adagrad()                               (lr 1e-2)
  adadelta            torch.optim.Adadelta()                              (lr 1.0, rho 0.9)
  adamax              torch.optim.Adamax()                                (lr 2e-3)
  radam               torch.optim.RAdam()                                 (lr 1e-3)
  rprop               torch.optim.Rprop()                                 (lr 1e-2)
  nadam               torch.optim.NAdam()                                 (lr 2e-3)
  asgd                torch.optim.ASGD(t0=0.0)                            (lr 1e-2)
  adamw_schedulefree  schedulefree.AdamWScheduleFree(weight_decay=0.01, warmup_steps=10)
  sgd_schedulefree    schedulefree.SGDScheduleFree()                      (lr 1.0, momentum 0.9)
  radam_schedulefree  schedulefree.RAdamScheduleFree()                    (lr 0.0025)
  schedulefree_wrapper_sgd
                      schedulefree.ScheduleFreeWrapper(torch.optim.SGD(lr=1e-3))
                      (wrapper defaults momentum 0.9; the base SGD with torch's default
                      foreach=None, i.e. its single-tensor path on CPU)
  adafactor           torch.optim.Adafactor()         on an [n/1024, 1024] parameter (lr 1e-2)
  muon                torch.optim.Muon()              on a  [64, n/64]     parameter (lr 1e-3)
  sparse_adam         torch.optim.SparseAdam()        with a sparse COO gradient holding all n
                      entries (explicit zeros kept); includes SparseAdam's coalesce/sparse_mask
                      overhead (the JSON line says so in `note`)

  impl torch-fused / torch-foreach / torch-single: fused=True / foreach=True / foreach=False,
  tried for every torch.optim rule (torch's fused CPU kernels exist for SGD, Adam, AdamW and
  Adagrad only; the others print an error line). Muon has no `foreach` argument: its torch-single
  line is the constructor without flags (its only, per-tensor, path).
  impl lion-pytorch (lion), schedulefree (the four schedule-free keys: the package's classes with
  their default foreach=True, put in train mode with opt.train() before stepping), torch-sparse
  (sparse_adam).

Adafactor and Muon see the matrix shape examples/throughput.rs gives them (`shape` in the JSON
line); `n` must then be a multiple of the width (1024 resp. 64). AdamWScheduleFree and
RAdamScheduleFree normalize `p.grad` in place (the package overwrites the gradient, as a real
backward pass would refill it), so over repeated steps their gradient values drift from the
initial ones; the other rules see the same gradient every step.

torch keeps optimizer state in the parameter dtype (bf16 state for bf16 parameters), unlike the
Rust example's f32 state, so `bytes_per_elem = 3*sizeof(P) + 2*slots*sizeof(state_dtype)` is the
traffic of torch's own layout; compare `ns_per_elem` across implementations. A combination torch
refuses prints `{"rule":..,"dtype":..,"n":..,"impl":..,"error":"..."}` instead.

Timing: a few warm-up steps (state creation), then the median of repeated timed `opt.step()`
calls, each sample repeating the step so that it takes >= ~3 ms (15 samples, 7 at >= 2^24).
The `ATEN_CPU_CAPABILITY` torch picked (e.g. avx2, avx512) is printed to stderr.
"""

import argparse
import inspect
import json
import statistics
import sys
import time

import torch

# In the order of examples/throughput.rs's `rules()` (sparse_adam: not there yet, last).
RULES = [
    "sgd",
    "sgd_momentum",
    "adam",
    "adamw",
    "lion",
    "rmsprop",
    "adagrad",
    "adadelta",
    "adamax",
    "radam",
    "rprop",
    "nadam",
    "asgd",
    "adamw_schedulefree",
    "sgd_schedulefree",
    "radam_schedulefree",
    "schedulefree_wrapper_sgd",
    "adafactor",
    "muon",
    "sparse_adam",
]
SCHEDULEFREE_RULES = {
    "adamw_schedulefree",
    "sgd_schedulefree",
    "radam_schedulefree",
    "schedulefree_wrapper_sgd",
}
OTHER_IMPLS = ["lion-pytorch", "schedulefree", "torch-sparse"]
SPARSE_NOTE = (
    "sparse COO gradient with all n entries present; includes SparseAdam's "
    "coalesce/sparse_mask overhead"
)
DTYPES = {
    "f32": torch.float32,
    "bf16": torch.bfloat16,
    "f16": torch.float16,
    "f64": torch.float64,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
SIZES = [1 << 16, 1 << 20, 1 << 24]
TORCH_IMPLS = {
    "torch-fused": {"fused": True},
    "torch-foreach": {"foreach": True},
    "torch-single": {"foreach": False},
}
SAMPLE_NS = 3_000_000  # each sample >= ~3 ms
WARMUP_STEPS = 3


def impls_for(rule):
    if rule == "lion":
        return ["lion-pytorch"]
    if rule in SCHEDULEFREE_RULES:
        return ["schedulefree"]
    if rule == "sparse_adam":
        return ["torch-sparse"]
    return list(TORCH_IMPLS)


def matrix_shape(rule, n):
    """The shape examples/throughput.rs's `matrix_shape` gives a shaped rule (None: flat)."""
    if rule == "muon":
        rows = min(64, n)
        shape = (rows, n // max(rows, 1))
    elif rule == "adafactor":
        cols = min(1024, n)
        shape = (n // max(cols, 1), cols)
    else:
        return None
    if shape[0] * shape[1] != n:
        raise ValueError(f"{rule} needs n a multiple of {shape[1] if rule == 'adafactor' else 64}")
    return shape


def torch_kwargs(cls, impl):
    """fused/foreach flags of `impl` for `cls`: torch-single on an optimizer without a `foreach`
    argument (Muon) is the constructor without flags; torch-fused/-foreach pass the flag anyway so
    that torch itself refuses what it lacks."""
    kw = dict(TORCH_IMPLS[impl])
    if impl == "torch-single" and "foreach" not in inspect.signature(cls.__init__).parameters:
        kw = {}
    return kw


def make_optimizer(rule, impl, param):
    """The configuration examples/throughput.rs measures for `rule`."""
    if rule == "lion":
        from lion_pytorch import Lion

        return Lion([param], lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01)
    if rule in SCHEDULEFREE_RULES:
        import schedulefree

        if rule == "adamw_schedulefree":
            opt = schedulefree.AdamWScheduleFree([param], weight_decay=0.01, warmup_steps=10)
        elif rule == "sgd_schedulefree":
            opt = schedulefree.SGDScheduleFree([param])
        elif rule == "radam_schedulefree":
            opt = schedulefree.RAdamScheduleFree([param])
        else:
            opt = schedulefree.ScheduleFreeWrapper(torch.optim.SGD([param], lr=1e-3))
        opt.train()  # schedule-free optimizers refuse to step in eval mode
        return opt
    if rule == "sparse_adam":
        return torch.optim.SparseAdam([param])  # lr 1e-3, betas (0.9, 0.999), eps 1e-8
    o = torch.optim
    cls, args = {
        "sgd": (o.SGD, dict(lr=1e-3)),
        "sgd_momentum": (o.SGD, dict(lr=1e-3, momentum=0.9)),
        "adam": (o.Adam, dict(lr=1e-3)),
        "adamw": (o.AdamW, dict(lr=1e-3, weight_decay=1e-2)),
        "rmsprop": (o.RMSprop, {}),
        "adagrad": (o.Adagrad, {}),
        "adadelta": (o.Adadelta, {}),
        "adamax": (o.Adamax, {}),
        "radam": (o.RAdam, {}),
        "rprop": (o.Rprop, {}),
        "nadam": (o.NAdam, {}),
        "asgd": (o.ASGD, dict(t0=0.0)),  # averaging from the first steps, as throughput.rs
        "adafactor": (o.Adafactor, {}),
        "muon": (o.Muon, {}),
    }.get(rule, (None, None))
    if cls is None:
        raise ValueError(f"unknown rule {rule}")
    return cls([param], **args, **torch_kwargs(cls, impl))


def state_slots(opt, param):
    """Per-element state tensors (ignores scalar entries like Adam's `step`)."""
    st = opt.state.get(param, {})
    return [
        v
        for v in st.values()
        if torch.is_tensor(v) and v.numel() == param.numel()
    ]


def measure(rule, dtype, n, impl):
    dt = DTYPES[dtype]
    i = torch.arange(n, dtype=torch.float64)
    # The same deterministic data as examples/throughput.rs.
    shape = matrix_shape(rule, n)
    p = (((i % 97) - 48.0) * 0.01).to(dt)
    g = (((i % 89) - 44.0) * 1e-3).to(dt)
    if shape is not None:
        p, g = p.reshape(shape), g.reshape(shape)
    p = torch.nn.Parameter(p)
    if rule == "sparse_adam":
        # Every index present (not g.to_sparse(), which would drop the gradient's zeros), in
        # order and unique, so coalesce() keeps all n entries.
        g = torch.sparse_coo_tensor(
            torch.arange(n).unsqueeze(0), g, (n,), check_invariants=True
        ).coalesce()
        if g._nnz() != n:
            raise RuntimeError(f"sparse gradient has {g._nnz()} of {n} entries")
    p.grad = g
    del i, g
    opt = make_optimizer(rule, impl, p)
    for _ in range(WARMUP_STEPS):
        opt.step()
    slots = state_slots(opt, p)
    if slots:
        state_dtype = slots[0].dtype
    else:  # e.g. Adafactor's row/column factors: their dtype, none counted per element
        floats = [
            v
            for v in opt.state.get(p, {}).values()
            if torch.is_tensor(v) and v.is_floating_point() and v.numel() > 1
        ]
        state_dtype = floats[0].dtype if floats else dt
    ssize = torch.empty((), dtype=state_dtype).element_size()
    bytes_per_elem = 3 * p.element_size() + 2 * len(slots) * ssize

    # Repeats per sample from one timed step.
    t0 = time.perf_counter_ns()
    opt.step()
    one = max(time.perf_counter_ns() - t0, 1)
    reps = max(1, -(-SAMPLE_NS // one))
    samples = 7 if n >= 1 << 24 else 15
    per_elem = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            opt.step()
        per_elem.append((time.perf_counter_ns() - t0) / (reps * n))
    if not torch.isfinite(p.detach().float()).all():
        raise RuntimeError("non-finite parameters after the timed steps")
    ns = statistics.median(per_elem)
    out = {
        "ns_per_elem": round(ns, 4),
        "bytes_per_elem": bytes_per_elem,
        "gbps": round(bytes_per_elem / ns, 2),
        "state_dtype": DTYPE_NAMES.get(state_dtype, str(state_dtype)),
    }
    if shape is not None:
        out["shape"] = list(shape)
    if rule == "sparse_adam":
        out["note"] = SPARSE_NOTE
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rule", choices=RULES)
    ap.add_argument("--dtype", choices=list(DTYPES))
    ap.add_argument("--n", type=int)
    ap.add_argument("--impl", choices=list(TORCH_IMPLS) + OTHER_IMPLS)
    ap.add_argument("--quick", action="store_true", help="only n = 65536")
    args = ap.parse_args()
    if args.n is not None and args.n <= 0:
        ap.error("--n takes a positive number")

    torch.set_num_threads(1)
    print(
        f"# torch {torch.__version__}, cpu capability "
        f"{torch.backends.cpu.get_cpu_capability()}, threads {torch.get_num_threads()}",
        file=sys.stderr,
    )
    rules = [args.rule] if args.rule else RULES
    dtypes = [args.dtype] if args.dtype else ["f32", "bf16"]
    sizes = [args.n] if args.n else ([1 << 16] if args.quick else SIZES)
    for rule in rules:
        for dtype in dtypes:
            for n in sizes:
                for impl in impls_for(rule):
                    if args.impl and impl != args.impl:
                        continue
                    line = {"rule": rule, "dtype": dtype, "n": n, "impl": impl}
                    try:
                        line.update(measure(rule, dtype, n, impl))
                    except Exception as e:  # an unsupported combination: report, go on
                        msg = " ".join(f"{type(e).__name__}: {e}".split())
                        line["error"] = msg[:300]
                        if rule == "sparse_adam":
                            line["note"] = SPARSE_NOTE
                    print(json.dumps(line, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
