#!/usr/bin/env python3
"""Markdown tables for BENCHMARKS.md from JSON lines of `examples/throughput --json` and
`tools/bench_torch.py`, taking the median over repeated runs (run them alternately).

    python3 tools/bench_table.py --default d.jsonl --native n.jsonl --torch t.jsonl

Two tables, rows in the order of the rule keys of examples/throughput.rs:
  - sgd, sgd_momentum, adam, adamw, lion: torch fused | torch foreach | torch single | lion-pytorch;
  - every other rule: torch fused | torch foreach | torch single | other, where `other` is the one
    non-torch.optim-flag implementation of the rule, named in the cell (schedulefree; torch-sparse
    for sparse_adam). Adafactor and Muon rows give their matrix shape beside `n`.
A rule only some of the files have still gets its row (the other columns `–`).
"""
import argparse
import collections
import json
import os
import re
import statistics

OLD_RULES = ["sgd", "sgd_momentum", "adam", "adamw", "lion"]
# Used when examples/throughput.rs cannot be read; keys missing from it (sparse_adam, measured
# by tools/bench_torch.py) go after its keys in this order.
FALLBACK_ORDER = OLD_RULES + [
    "rmsprop", "adagrad", "adadelta", "adamax", "radam", "rprop", "nadam", "asgd",
    "adamw_schedulefree", "sgd_schedulefree", "radam_schedulefree", "schedulefree_wrapper_sgd",
    "adafactor", "muon", "sparse_adam",
]
DTYPE_ORDER = ["f32", "bf16", "f16", "f64"]
TORCH_IMPLS = ["torch-fused", "torch-foreach", "torch-single"]
OTHER_IMPLS = ["lion-pytorch", "schedulefree", "torch-sparse"]


def rule_order():
    """Rule keys in the order of `rules()` in examples/throughput.rs, then FALLBACK_ORDER's rest."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "throughput.rs")
    keys = []
    try:
        src = open(path).read()
        body = src[src.index("fn rules()"):]
        body = body[: body.index("\n}\n")]
        keys = re.findall(r'\(\s*"([a-z0-9_]+)"\s*,', body)
    except (OSError, ValueError):
        pass
    return keys + [k for k in FALLBACK_ORDER if k not in keys]


def matrix_shape(rule, n):
    """The matrix examples/throughput.rs gives a shaped rule (its `matrix_shape`), else None."""
    if rule == "muon":
        r = min(64, n)
        return (r, n // max(r, 1))
    if rule == "adafactor":
        c = min(1024, n)
        return (n // max(c, 1), c)
    return None


def load(path):
    rows = collections.defaultdict(list)
    if path:
        for line in open(path):
            if not line.strip() or line.startswith("#"):
                continue
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


def rust_cells(d, n, k):
    """B/elem (our kernel's), then default and native ns/elem, limit, ratio."""
    src = d.get(k) or n.get(k)
    b = str(src[0]["bytes_per_elem"]) if src else "–"
    return [b,
            fmt(med(d, k, "ns_per_elem")), fmt(med(d, k, "limit_ns_per_elem")), fmt(med(d, k, "ratio"), 2),
            fmt(med(n, k, "ns_per_elem")), fmt(med(n, k, "limit_ns_per_elem")), fmt(med(n, k, "ratio"), 2)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--default", required=True)
    ap.add_argument("--native", required=True)
    ap.add_argument("--torch")
    a = ap.parse_args()
    d, n, t = load(a.default), load(a.native), load(a.torch)
    order = rule_order()

    def sort_key(k):
        rule, dtype, size = k
        return (order.index(rule) if rule in order else len(order), rule,
                DTYPE_ORDER.index(dtype) if dtype in DTYPE_ORDER else len(DTYPE_ORDER), dtype, size)

    keys = sorted({k[:3] for rows in (d, n, t) for k in rows}, key=sort_key)
    old = [k for k in keys if k[0] in OLD_RULES]
    new = [k for k in keys if k[0] not in OLD_RULES]

    print("| rule | dtype | n | B/elem | default ns/elem | default limit | ratio | native ns/elem | native limit | ratio | torch fused | torch foreach | torch single | lion-pytorch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rule, dtype, size in old:
        k = (rule, dtype, size, "ours")
        row = [rule, dtype, str(size)] + rust_cells(d, n, k)
        for impl in TORCH_IMPLS + ["lion-pytorch"]:
            row.append(fmt(med(t, (rule, dtype, size, impl), "ns_per_elem")))
        print("| " + " | ".join(row) + " |")

    if not new:
        return
    print()
    print("| rule | dtype | n | B/elem | default ns/elem | default limit | ratio | native ns/elem | native limit | ratio | torch fused | torch foreach | torch single | other |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rule, dtype, size in new:
        k = (rule, dtype, size, "ours")
        shape = matrix_shape(rule, size)
        n_cell = str(size) if shape is None else f"{size} ({shape[0]}×{shape[1]})"
        row = [rule, dtype, n_cell] + rust_cells(d, n, k)
        for impl in TORCH_IMPLS:
            row.append(fmt(med(t, (rule, dtype, size, impl), "ns_per_elem")))
        other = [(impl, med(t, (rule, dtype, size, impl), "ns_per_elem")) for impl in OTHER_IMPLS]
        other += [(k2[3], med(t, k2, "ns_per_elem")) for k2 in t
                  if k2[:3] == (rule, dtype, size) and k2[3] not in TORCH_IMPLS + OTHER_IMPLS]
        cells = [f"{fmt(v)} ({impl})" for impl, v in other if v is not None]
        row.append("<br>".join(cells) if cells else "–")
        print("| " + " | ".join(row) + " |")
    print()
    print("`–`: not measured, or refused by torch (fused CPU kernels exist for SGD, Adam, AdamW and "
          "Adagrad only; Muon has neither `fused` nor `foreach`). `other`: schedulefree = the "
          "schedulefree package's class (ScheduleFreeWrapper around torch.optim.SGD for "
          "schedulefree_wrapper_sgd); torch-sparse = torch.optim.SparseAdam with a sparse gradient "
          "holding every entry, including its coalesce/sparse_mask overhead. B/elem is our kernel's "
          "(f32 state); torch keeps bf16 state for bf16 parameters.")


if __name__ == "__main__":
    main()
