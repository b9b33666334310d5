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

Implementations:
  sgd, sgd_momentum, adam, adamw: torch.optim with fused=True, foreach=True, foreach=False
                                  (impl torch-fused, torch-foreach, torch-single)
  lion:                           lion_pytorch.Lion (impl lion-pytorch)

torch keeps optimizer state in the parameter dtype (bf16 state for bf16 parameters), unlike the
Rust example's f32 state, so `bytes_per_elem = 3*sizeof(P) + 2*slots*sizeof(state_dtype)` is the
traffic of torch's own layout; compare `ns_per_elem` across implementations. A combination torch
refuses prints `{"rule":..,"dtype":..,"n":..,"impl":..,"error":"..."}` instead.

Timing: a few warm-up steps (state creation), then the median of repeated timed `opt.step()`
calls, each sample repeating the step so that it takes >= ~3 ms (15 samples, 7 at >= 2^24).
The `ATEN_CPU_CAPABILITY` torch picked (e.g. avx2, avx512) is printed to stderr.
"""

import argparse
import json
import statistics
import sys
import time

import torch

RULES = ["sgd", "sgd_momentum", "adam", "adamw", "lion"]
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
    return ["lion-pytorch"] if rule == "lion" else list(TORCH_IMPLS)


def make_optimizer(rule, impl, param):
    """The configuration examples/throughput.rs measures for `rule`."""
    if rule == "lion":
        from lion_pytorch import Lion

        return Lion([param], lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01)
    kw = TORCH_IMPLS[impl]
    if rule == "sgd":
        return torch.optim.SGD([param], lr=1e-3, **kw)
    if rule == "sgd_momentum":
        return torch.optim.SGD([param], lr=1e-3, momentum=0.9, **kw)
    if rule == "adam":
        return torch.optim.Adam([param], lr=1e-3, **kw)
    if rule == "adamw":
        return torch.optim.AdamW([param], lr=1e-3, weight_decay=1e-2, **kw)
    raise ValueError(f"unknown rule {rule}")


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
    p = torch.nn.Parameter((((i % 97) - 48.0) * 0.01).to(dt))
    p.grad = (((i % 89) - 44.0) * 1e-3).to(dt)
    del i
    opt = make_optimizer(rule, impl, p)
    for _ in range(WARMUP_STEPS):
        opt.step()
    slots = state_slots(opt, p)
    state_dtype = slots[0].dtype if slots else dt
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
    return {
        "ns_per_elem": round(ns, 4),
        "bytes_per_elem": bytes_per_elem,
        "gbps": round(bytes_per_elem / ns, 2),
        "state_dtype": DTYPE_NAMES.get(state_dtype, str(state_dtype)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rule", choices=RULES)
    ap.add_argument("--dtype", choices=list(DTYPES))
    ap.add_argument("--n", type=int)
    ap.add_argument("--impl", choices=list(TORCH_IMPLS) + ["lion-pytorch"])
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
                    print(json.dumps(line, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
