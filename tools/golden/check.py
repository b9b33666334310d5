#!/usr/bin/env python3
"""Replay every golden case through the crate's `replay` example and compare.

    python3 tools/golden/check.py [--no-build] [FILE.json ...]

Builds `cargo build --release --example replay` once (unless --no-build), then for
every tests/golden/*.json extracts `case` to a temporary file, runs
target/release/examples/replay on it and prints, per file, the max relative error
|ours - ref| / max(|ref|, 1e-30), the max absolute error, where the worst element
is (step, tensor, element) and how many elements are bit-identical.
For tests/golden/errors/*.json it checks exit status 2, an `error:` line on stderr,
and whether that line names the `error_key`.

Only the standard library is needed (any python3 works). Exit status 1 if a run
fails, an error case is not rejected properly, or (with --max-rel-f64/--max-rel-f32)
a tolerance is exceeded.
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"


def num(v):
    if isinstance(v, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
    return float(v)


def to_f32(x):
    """Round a parsed number to f32: replay prints f32 values in their shortest f32 form
    (e.g. 0.1285417), which parses to the stored f32 only after rounding to f32."""
    if math.isnan(x) or math.isinf(x):
        return x
    return struct.unpack("<f", struct.pack("<f", x))[0]


def run_replay(binary, case):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(case, f)
        path = f.name
    try:
        return subprocess.run([str(binary), path], capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(path)


def compare(ours_steps, exp_steps, dtype):
    """-> dict with max_rel, max_abs, worst location, bit-identical count, total."""
    res = {"max_rel": 0.0, "max_abs": 0.0, "where": None, "where_abs": None, "same": 0, "total": 0,
           "shape_error": None}
    if len(ours_steps) != len(exp_steps):
        res["shape_error"] = f"{len(ours_steps)} steps, expected {len(exp_steps)}"
        return res
    for si, (o, e) in enumerate(zip(ours_steps, exp_steps)):
        op, ep = o["params"], e["params"]
        if len(op) != len(ep):
            res["shape_error"] = f"step {si}: {len(op)} tensors, expected {len(ep)}"
            return res
        for ti, (ot, et) in enumerate(zip(op, ep)):
            if len(ot) != len(et):
                res["shape_error"] = f"step {si} tensor {ti}: {len(ot)} elements, expected {len(et)}"
                return res
            for k, (x, y) in enumerate(zip(ot, et)):
                x, y = num(x), num(y)
                if dtype == "f32":
                    x = to_f32(x)
                res["total"] += 1
                if x == y or (math.isnan(x) and math.isnan(y)):
                    res["same"] += 1
                    continue
                a = abs(x - y)
                r = a / max(abs(y), 1e-30)
                if not (r <= res["max_rel"]):  # also catches NaN
                    res["max_rel"] = r if not math.isnan(r) else math.inf
                    res["where"] = (si, ti, k, x, y)
                if a > res["max_abs"]:
                    res["max_abs"] = a
                    res["where_abs"] = (si, ti, k, x, y)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "examples" / "replay")
    ap.add_argument("--max-rel-f64", type=float, default=None)
    ap.add_argument("--max-rel-f32", type=float, default=None)
    args = ap.parse_args()

    if not args.no_build:
        r = subprocess.run(["cargo", "build", "--release", "--example", "replay"], cwd=REPO)
        if r.returncode != 0:
            sys.exit("cargo build --release --example replay failed")

    files = args.files or sorted(GOLDEN.glob("*.json")) + sorted((GOLDEN / "errors").glob("*.json"))
    limits = {"f64": args.max_rel_f64, "f32": args.max_rel_f32}
    bad = 0
    worst = {}
    for path in files:
        obj = json.loads(Path(path).read_text())
        name = os.path.relpath(path, GOLDEN)
        if "error_key" in obj:
            r = run_replay(args.binary, obj["case"])
            lines = [l for l in r.stderr.splitlines() if l.startswith("error:")]
            key = obj["error_key"]
            names_key = any(f"`{key}`" in l for l in lines) or any(key in l for l in lines)
            ok = r.returncode == 2 and len(lines) >= 1
            status = "OK " if ok else "BAD"
            if not ok:
                bad += 1
            msg = lines[0] if lines else (r.stderr.strip().splitlines() or ["<no stderr>"])[-1]
            print(f"{status} {name:48s} exit {r.returncode}  names key {key!r}: "
                  f"{'yes' if names_key else 'NO'}  | {msg}")
            continue
        case = obj["case"]
        r = run_replay(args.binary, case)
        if r.returncode != 0:
            bad += 1
            print(f"BAD {name:48s} exit {r.returncode}: {r.stderr.strip()[:300]}")
            continue
        try:
            ours = json.loads(r.stdout)
        except json.JSONDecodeError as e:
            bad += 1
            print(f"BAD {name:48s} unparsable stdout: {e}")
            continue
        c = compare(ours["steps"], obj["expected"]["steps"], case["dtype"])
        if c["shape_error"]:
            bad += 1
            print(f"BAD {name:48s} {c['shape_error']}")
            continue
        dt = case["dtype"]
        lim = limits.get(dt)
        ok = lim is None or c["max_rel"] <= lim
        if not ok:
            bad += 1
        key = (case["optimizer"]["name"], dt)
        worst[key] = max(worst.get(key, 0.0), c["max_rel"])
        loc = ""
        if c["where"]:
            si, ti, k, x, y = c["where"]
            loc = f"worst rel at step {si} tensor {ti} elem {k}: ours {x!r} ref {y!r}"
        print(f"{'OK ' if ok else 'BAD'} {name:48s} max_rel {c['max_rel']:.3e}  max_abs {c['max_abs']:.3e}  "
              f"identical {c['same']}/{c['total']}  {loc}")

    print("\nworst max_rel per optimizer/dtype:")
    for (n, dt), v in sorted(worst.items()):
        print(f"  {n:6s} {dt}: {v:.3e}")
    print(f"\n{len(files)} files, {bad} problem(s)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
