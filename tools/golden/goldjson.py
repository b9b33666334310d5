"""JSON output shared by the golden-data generators in this folder: exact numbers (NaN and the
infinities as the strings REPLAY.md defines), flattened tensors, config values, and the one file
format (compact, one line, newline-terminated)."""

import json
import math


def jnum(x):
    """A Python float for JSON (exact value of the stored element)."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def jvec(t):
    """Row-major flattened tensor as a list of JSON numbers (exact values)."""
    return [jnum(v) for v in t.detach().reshape(-1).tolist()]


def jcfg(v):
    """Optimizer config values: dicts and lists element by element, tuples become lists, floats
    go through `jnum`."""
    if isinstance(v, dict):
        return {k: jcfg(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [jcfg(x) for x in v]
    if isinstance(v, float):
        return jnum(v)
    return v


def write_json(path, obj):
    """`obj` as one compact line; a float NaN or infinity (not passed through `jnum`) raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=None, separators=(",", ":"), allow_nan=False)
        f.write("\n")
