#!/usr/bin/env python3
"""Ours against PyTorch in one run, alternating, for the speed-up claims of BENCHMARKS.md.

    RUSTFLAGS="-C target-cpu=native" cargo build --release --example throughput
    ~/refenv/bin/python tools/bench_vs_torch.py --rust target/release/examples/throughput \\
        [--rule adamw] [--dtype f32] [--n 1048576] [--rounds 7] \\
        [--impls torch-fused,torch-foreach,torch-single]

This shared machine drifts between fast and slow phases by up to 2x over minutes, so numbers
measured minutes apart do not make a ratio. Each round runs the Rust example once, then
tools/bench_torch.py once per PyTorch implementation, each in a fresh process (the same
workload, values and hyperparameters; one thread; each program's own median of repeated timed
steps after warm-up); the speed-up of a round is torch's time over ours in that round. Prints
every round's JSON lines, then one summary line per implementation:

    {"summary":true,"rule":"adamw","dtype":"f32","n":1048576,"impl":"torch-fused",
     "ours_ns_per_elem":0.41,"torch_ns_per_elem":0.63,"speedup_median":1.6,
     "speedup_min":1.4,"speedup_max":1.8,"rounds":7}

(medians over rounds; `speedup_*` are the per-round ratios torch / ours).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    if len(lines) != 1:
        sys.exit(f"expected one JSON line from {' '.join(cmd)}, got:\n{out}")
    return lines[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rust", required=True, help="the built throughput example")
    ap.add_argument("--rule", default="adamw")
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--impls", default="torch-fused,torch-foreach")
    a = ap.parse_args()
    impls = a.impls.split(",")
    workload = ["--rule", a.rule, "--dtype", a.dtype, "--n", str(a.n)]
    ours, theirs = [], {i: [] for i in impls}
    for r in range(a.rounds):
        line = run_json([a.rust, "--json"] + workload)
        print(json.dumps({"round": r, "impl": "ours", **line}), flush=True)
        ours.append(line["ns_per_elem"])
        for impl in impls:
            t = run_json(
                [sys.executable, os.path.join(HERE, "bench_torch.py"), "--impl", impl]
                + workload
            )
            if "error" in t:
                sys.exit(f"{impl}: {t['error']}")
            print(json.dumps({"round": r, **t}), flush=True)
            theirs[impl].append(t["ns_per_elem"])
    for impl in impls:
        ratios = [t / o for t, o in zip(theirs[impl], ours)]
        print(
            json.dumps(
                {
                    "summary": True,
                    "rule": a.rule,
                    "dtype": a.dtype,
                    "n": a.n,
                    "impl": impl,
                    "ours_ns_per_elem": round(statistics.median(ours), 4),
                    "torch_ns_per_elem": round(statistics.median(theirs[impl]), 4),
                    "speedup_median": round(statistics.median(ratios), 3),
                    "speedup_min": round(min(ratios), 3),
                    "speedup_max": round(max(ratios), 3),
                    "rounds": a.rounds,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
