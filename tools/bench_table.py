#!/usr/bin/env python3
"""Markdown tables for BENCHMARKS.md from JSON lines of `examples/throughput --json` and
`tools/bench_torch.py`, taking the median over repeated runs (run them alternately).

    python3 tools/bench_table.py --default d.jsonl --native n.jsonl --torch t.jsonl
"""
import argparse
import collections
import json
import statistics


def load(path):
    rows = collections.defaultdict(list)
    if path:
        for line in open(path):
            j = json.loads(line)
            if "error" in j:
                continue
            rows[(j["rule"], j["dtype"], j["n"], j.get("impl", "ours"))].append(j)
    return rows


def med(rows, key, field):
    v = rows.get(key)
    return statistics.median(x[field] for x in v) if v else None


def fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--default", required=True)
    ap.add_argument("--native", required=True)
    ap.add_argument("--torch")
    a = ap.parse_args()
    d, n, t = load(a.default), load(a.native), load(a.torch)
    keys = sorted({k[:3] for k in d}, key=lambda k: (["sgd", "sgd_momentum", "adam", "adamw", "lion"].index(k[0]) if k[0] in ["sgd", "sgd_momentum", "adam", "adamw", "lion"] else 99, k[1] != "f32", k[2]))
    print("| rule | dtype | n | B/elem | default ns/elem | default limit | ratio | native ns/elem | native limit | ratio | torch fused | torch foreach | torch single | lion-pytorch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rule, dtype, size in keys:
        k = (rule, dtype, size, "ours")
        b = d[k][0]["bytes_per_elem"]
        row = [rule, dtype, str(size), str(b),
               fmt(med(d, k, "ns_per_elem")), fmt(med(d, k, "limit_ns_per_elem")), fmt(med(d, k, "ratio"), 2),
               fmt(med(n, k, "ns_per_elem")), fmt(med(n, k, "limit_ns_per_elem")), fmt(med(n, k, "ratio"), 2)]
        for impl in ["torch-fused", "torch-foreach", "torch-single", "lion-pytorch"]:
            row.append(fmt(med(t, (rule, dtype, size, impl), "ns_per_elem")))
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
