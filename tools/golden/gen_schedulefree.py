#!/usr/bin/env python3
"""Generate golden reference trajectories for the schedulefree (1.4.1) family.

Run with the reference venv (see tools/golden/README.md):

    ~/refenv/bin/python tools/golden/gen_schedulefree.py

Same conventions as gen_golden.py (deterministic: numpy seeds from crc32 of the
case name, one thread, ATEN_CPU_CAPABILITY=avx2 pinned before torch is imported;
re-running reproduces every file byte for byte).  Writes only `sf_*` files:

    tests/golden/sf_<case>_<f64|f32>.json
        {"reference": "...", "case": {REPLAY.md case, with "eval_params": true},
         "expected": {"steps": [{"params": [...]}, ...], "eval_params": [...]}}

        `steps[i].params` = what the Python `p` tensors hold after step i (y for the
        in-place classes and the wrappers, x for the *Closure classes).
        `eval_params` = the parameters after `opt.eval()` following the last step
        (the closure classes have no eval(): their `p` already holds x, so
        eval_params equals the last step's params).

    tests/golden/errors/sf_<name>.json
        {"reference", "error_key", "case"}: configs the Python constructor really
        rejects (checked when generating).

    tests/golden/modes/sf_<case>_<f64|f32>.json   -- train()/eval() switching
        {"reference": "...",
         "case": {"optimizer": {...}, "dtype": "f64"|"f32",
                  "params": [{"shape", "data"}, ...], "param_groups": [...]  (optional)},
         "events": [ {"op": "train", "params": [...]},
                     {"op": "eval",  "params": [...]},
                     {"op": "step",  "grads": [...], "lr": [...] (optional), "params": [...]},
                     ... ]}
        `case` is a REPLAY.md case header without `steps` (same meaning of
        `optimizer`, `dtype`, `params`, `param_groups`).  The optimizer is built
        in Python's initial state (eval mode: train_mode False -- except
        SGDScheduleFreeReference, which starts with train_mode True) and the events
        are applied in order.  No train() is implied: the event list starts with an
        explicit `train` (or `eval`) event.  `op: step` has REPLAY's step semantics
        (`grads` with null for a missing gradient, optional per-group `lr` applied to
        group['lr'] before the step).  Every event records `params`: what the Python
        `p` tensors hold right after that call.  Repeated calls (eval after eval)
        are included on purpose: in Python they are no-ops.

The optimizer config (`case.optimizer`) is exactly the constructor's keyword
arguments plus `name` (the Python class name).  The wrappers are spelled

    {"name": "ScheduleFreeWrapper", "base": {"name": "AdamW", ...base kwargs...},
     "momentum": 0.9, "weight_decay_at_y": 0.1, "r": 0.0, "weight_lr_power": 2.0}

and `param_groups` overrides / per-step `lr` apply to the base optimizer's
param_groups (that is where the wrapper reads `lr`).
"""

import os

# Pin the CPU kernel set before torch is imported (see gen_golden.py).
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import contextlib  # noqa: E402
import inspect  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import zlib  # noqa: E402
from importlib.metadata import version as _pkg_version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from goldjson import jnum, jvec, jcfg, write_json  # noqa: E402
import schedulefree  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "golden"
OUT_ERR = OUT / "errors"
OUT_MODES = OUT / "modes"

TORCH_VERSION = torch.__version__.split("+")[0]
SF_VERSION = _pkg_version("schedulefree")
CPU_CAP = torch.backends.cpu.get_cpu_capability()
CAP_NOTE = f"ATEN_CPU_CAPABILITY={CPU_CAP}"

EXPECTED_VERSIONS = {"torch": "2.15.0", "schedulefree": "1.4.1"}

SHAPES = [[3, 4], [5], [10, 15]]
N_STEPS = 8
DTYPES = {"f64": torch.float64, "f32": torch.float32}

WRAPPERS = ("ScheduleFreeWrapper", "ScheduleFreeWrapperReference")
CLOSURE = ("AdamWScheduleFreeClosure", "SGDScheduleFreeClosure", "RAdamScheduleFreeClosure")
# Classes that accept `foreach` but ignore it (single code path).
FOREACH_IGNORED = ("AdamWScheduleFreeReference", "SGDScheduleFreeReference")


# --------------------------------------------------------------------------
# Case specifications
# --------------------------------------------------------------------------
#
# Each spec:
#   name        file name stem (files: sf_<name>_<dtype>.json; seed: crc32("sf_<name>"))
#   cls         schedulefree class name
#   kwargs      constructor keyword arguments (besides params / foreach); for the
#               wrappers: the wrapper's keyword arguments
#   base        wrappers only: (torch.optim class name, base kwargs besides foreach/fused)
#   groups      None (one implicit group) or list of (tensor indices, overrides)
#   late        tensor indices with no gradient on the FIRST step (step 0)
#   lr_sched    {step index: [lr per group]} (applied to group['lr'] before that step)
#   zero_grad0  if True, element 0 of tensor 0's gradient at step 0 is exactly 0
#
# Always: tensor 1 has no gradient at step index 2.

G_LR_WD = lambda lr0, wd1: [([0, 2], {"lr": lr0}), ([1], {"weight_decay": wd1})]  # noqa: E731
G_LR_WD2 = lambda lr0, lr1, wd0, wd1: [([0, 2], {"lr": lr0, "weight_decay": wd0}),  # noqa: E731
                                       ([1], {"lr": lr1, "weight_decay": wd1})]

SPECS = [
    # ------------------------------------------------------ AdamWScheduleFree
    dict(name="adamw_default", cls="AdamWScheduleFree", kwargs={},
         groups=None, late=[2], lr_sched={}, zero_grad0=True),
    dict(name="adamw_wd_warmup_groups", cls="AdamWScheduleFree",
         kwargs={"lr": 0.01, "weight_decay": 0.01, "warmup_steps": 3},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={5: [0.01, 0.03]}),
    dict(name="adamw_r_power1", cls="AdamWScheduleFree",
         kwargs={"lr": 0.01, "betas": (0.95, 0.99), "eps": 1e-6, "r": 0.5, "weight_lr_power": 1.0},
         groups=None, late=[], lr_sched={3: [0.02], 6: [0.005]}),
    dict(name="adamw_power0_warmup", cls="AdamWScheduleFree",
         kwargs={"lr": 0.02, "weight_decay": 0.05, "warmup_steps": 3, "weight_lr_power": 0.0},
         groups=G_LR_WD2(0.01, 0.03, 0.0, 0.1), late=[0], lr_sched={4: [0.02, 0.01]}),

    # ------------------------------------------------------ SGDScheduleFree
    dict(name="sgd_default", cls="SGDScheduleFree", kwargs={},
         groups=None, late=[2], lr_sched={}, zero_grad0=True),
    dict(name="sgd_wd_warmup_groups", cls="SGDScheduleFree",
         kwargs={"lr": 0.1, "momentum": 0.8, "weight_decay": 0.01, "warmup_steps": 3},
         groups=G_LR_WD(0.05, 0.1), late=[1], lr_sched={5: [0.02, 0.2]}),
    dict(name="sgd_r_power0", cls="SGDScheduleFree",
         kwargs={"lr": 0.05, "r": 0.5, "weight_lr_power": 0.0},
         groups=None, late=[0], lr_sched={3: [0.1], 6: [0.02]}),

    # ------------------------------------------------------ RAdamScheduleFree
    dict(name="radam_default", cls="RAdamScheduleFree", kwargs={},
         groups=None, late=[2], lr_sched={}, zero_grad0=True),
    dict(name="radam_b2_09_wd_groups", cls="RAdamScheduleFree",
         kwargs={"lr": 0.01, "betas": (0.9, 0.9), "weight_decay": 0.01},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={6: [0.01, 0.03]}),
    dict(name="radam_sgd_phase", cls="RAdamScheduleFree",
         kwargs={"lr": 0.01, "betas": (0.9, 0.9), "silent_sgd_phase": False, "r": 0.5,
                 "weight_lr_power": 1.0},
         groups=None, late=[0], lr_sched={3: [0.005], 6: [0.02]}),
    dict(name="radam_silent_power0", cls="RAdamScheduleFree",
         kwargs={"lr": 0.01, "betas": (0.8, 0.95), "silent_sgd_phase": True, "weight_lr_power": 0.0},
         groups=G_LR_WD2(0.01, 0.02, 0.0, 0.05), late=[], lr_sched={5: [0.02, 0.01]}),

    # ------------------------------------------------------ AdamWScheduleFreeReference
    dict(name="adamw_reference", cls="AdamWScheduleFreeReference",
         kwargs={"lr": 0.01, "weight_decay": 0.01, "decay_at_z": False},
         groups=G_LR_WD(0.02, 0.1), late=[2], lr_sched={5: [0.01, 0.03]}, zero_grad0=True),
    dict(name="adamw_reference_decay_at_z", cls="AdamWScheduleFreeReference",
         kwargs={"lr": 0.01, "weight_decay": 0.1, "decay_at_z": True, "warmup_steps": 3, "r": 0.5},
         groups=G_LR_WD(0.02, 0.5), late=[1], lr_sched={5: [0.005, 0.02]}),

    # ------------------------------------------------------ AdamWScheduleFreePaper
    dict(name="adamw_paper", cls="AdamWScheduleFreePaper",
         kwargs={"lr": 0.01, "weight_decay": 0.01, "warmup_steps": 2},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={5: [0.01, 0.03]}, zero_grad0=True),
    dict(name="adamw_paper_default", cls="AdamWScheduleFreePaper", kwargs={},
         groups=None, late=[2], lr_sched={}),

    # ------------------------------------------------------ SGDScheduleFreeReference
    dict(name="sgd_reference", cls="SGDScheduleFreeReference",
         kwargs={"lr": 0.1, "weight_decay": 0.01, "warmup_steps": 3},
         groups=G_LR_WD(0.05, 0.1), late=[2], lr_sched={5: [0.02, 0.2]}, zero_grad0=True),
    dict(name="sgd_reference_r_power1", cls="SGDScheduleFreeReference",
         kwargs={"lr": 0.05, "momentum": 0.7, "r": 0.5, "weight_lr_power": 1.0},
         groups=None, late=[1], lr_sched={3: [0.1], 6: [0.02]}),

    # ------------------------------------------------------ closure classes
    dict(name="adamw_closure", cls="AdamWScheduleFreeClosure",
         kwargs={"lr": 0.01, "weight_decay": 0.01, "warmup_steps": 3},
         groups=G_LR_WD(0.02, 0.1), late=[2], lr_sched={5: [0.01, 0.03]}, zero_grad0=True),
    dict(name="sgd_closure", cls="SGDScheduleFreeClosure",
         kwargs={"lr": 0.1, "weight_decay": 0.01, "momentum": 0.8, "r": 0.5},
         groups=G_LR_WD(0.05, 0.0), late=[1], lr_sched={3: [0.1, 0.2], 6: [0.02, 0.05]}),
    dict(name="radam_closure", cls="RAdamScheduleFreeClosure",
         kwargs={"lr": 0.01, "betas": (0.9, 0.9), "weight_decay": 0.01},
         groups=G_LR_WD(0.02, 0.1), late=[0], lr_sched={6: [0.01, 0.03]}),
    dict(name="radam_closure_sgd_phase", cls="RAdamScheduleFreeClosure",
         kwargs={"lr": 0.005, "silent_sgd_phase": False, "weight_lr_power": 1.0},
         groups=None, late=[2], lr_sched={5: [0.01]}, zero_grad0=True),

    # ------------------------------------------------------ ScheduleFreeWrapper
    dict(name="wrap_sgd", cls="ScheduleFreeWrapper", base=("SGD", {"lr": 0.1}),
         kwargs={},
         groups=None, late=[2], lr_sched={3: [0.2], 6: [0.05]}, zero_grad0=True),
    dict(name="wrap_sgd_momentum", cls="ScheduleFreeWrapper",
         base=("SGD", {"lr": 0.05, "momentum": 0.9}),
         kwargs={"momentum": 0.8, "weight_decay_at_y": 0.01, "r": 0.5, "weight_lr_power": 1.0},
         groups=G_LR_WD(0.02, 0.01), late=[], lr_sched={5: [0.01, 0.1]}),
    dict(name="wrap_adamw", cls="ScheduleFreeWrapper",
         base=("AdamW", {"lr": 0.01, "weight_decay": 0.01}),
         kwargs={"momentum": 0.9, "weight_decay_at_y": 0.1, "r": 0.0, "weight_lr_power": 2.0},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={5: [0.01, 0.03]}),
    dict(name="wrap_adam", cls="ScheduleFreeWrapper",
         base=("Adam", {"lr": 0.01, "betas": (0.0, 0.999)}),
         kwargs={"momentum": 0.9, "weight_lr_power": 0.0},
         groups=None, late=[0], lr_sched={3: [0.02], 6: [0.005]}),

    # ------------------------------------------------------ ScheduleFreeWrapperReference
    dict(name="wrapref_sgd", cls="ScheduleFreeWrapperReference",
         base=("SGD", {"lr": 0.1, "momentum": 0.0}),
         kwargs={},
         groups=None, late=[2], lr_sched={3: [0.2], 6: [0.05]}, zero_grad0=True),
    dict(name="wrapref_sgd_momentum", cls="ScheduleFreeWrapperReference",
         base=("SGD", {"lr": 0.05, "momentum": 0.9}),
         kwargs={"momentum": 0.8, "weight_decay_at_y": 0.01, "r": 0.5, "weight_lr_power": 1.0},
         groups=G_LR_WD(0.02, 0.01), late=[], lr_sched={5: [0.01, 0.1]}),
    dict(name="wrapref_adamw", cls="ScheduleFreeWrapperReference",
         base=("AdamW", {"lr": 0.01, "weight_decay": 0.01}),
         kwargs={"momentum": 0.9, "weight_decay_at_y": 0.1, "r": 0.0, "weight_lr_power": 2.0},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={5: [0.01, 0.03]}),
    dict(name="wrapref_adam", cls="ScheduleFreeWrapperReference",
         base=("Adam", {"lr": 0.01, "betas": (0.0, 0.999)}),
         kwargs={"momentum": 0.9, "weight_lr_power": 0.0},
         groups=None, late=[0], lr_sched={3: [0.02], 6: [0.005]}),
    # Every tensor has a gradient at every step: the reference wrapper's handling of tensors
    # without one (it still moves them) is not reproduced by the crate, which refuses such steps;
    # these cases check the arithmetic itself.
    dict(name="wrapref_sgd_momentum_all_grads", cls="ScheduleFreeWrapperReference",
         base=("SGD", {"lr": 0.05, "momentum": 0.9}),
         kwargs={"momentum": 0.8, "weight_decay_at_y": 0.01, "r": 0.5, "weight_lr_power": 1.0},
         groups=G_LR_WD(0.02, 0.01), late=[], lr_sched={5: [0.01, 0.1]}, all_grads=True),
    dict(name="wrapref_adamw_all_grads", cls="ScheduleFreeWrapperReference",
         base=("AdamW", {"lr": 0.01, "weight_decay": 0.01}),
         kwargs={"momentum": 0.9, "weight_decay_at_y": 0.1, "r": 0.0, "weight_lr_power": 2.0},
         groups=G_LR_WD(0.02, 0.1), late=[], lr_sched={5: [0.01, 0.03]}, all_grads=True),
]

# Mode-switch sequences: T = train(), E = eval(), S = step().
#   eval_first: eval()/train() before any step (no state yet: no-ops on the params),
#               tensor 2 gets its first gradient only after a mid-run eval/train cycle.
#   mid:        eval -> train -> eval -> train mid-run, repeated calls, per-step lr changes.
MODE_SEQS = {
    "eval_first": "E T E T S S S E T S S S E",
    "mid": "T S S S E T E T S S E E T T S S E",
}

MODE_SPECS = [
    dict(name="adamw", cls="AdamWScheduleFree",
         kwargs={"lr": 0.01, "weight_decay": 0.01, "warmup_steps": 2},
         groups=G_LR_WD(0.02, 0.1)),
    dict(name="sgd", cls="SGDScheduleFree", kwargs={"lr": 0.1, "momentum": 0.8, "weight_decay": 0.01},
         groups=None),
    dict(name="radam", cls="RAdamScheduleFree", kwargs={"lr": 0.01, "betas": (0.9, 0.9)},
         groups=G_LR_WD(0.02, 0.1)),
    dict(name="adamw_paper", cls="AdamWScheduleFreePaper", kwargs={"lr": 0.01, "weight_decay": 0.01},
         groups=None),
    dict(name="adamw_reference", cls="AdamWScheduleFreeReference",
         kwargs={"lr": 0.01, "weight_decay": 0.1, "decay_at_z": True}, groups=G_LR_WD(0.02, 0.01)),
    dict(name="sgd_reference", cls="SGDScheduleFreeReference",
         kwargs={"lr": 0.1, "momentum": 0.8, "weight_decay": 0.01}, groups=None),
    dict(name="wrap_sgd_momentum", cls="ScheduleFreeWrapper", base=("SGD", {"lr": 0.05, "momentum": 0.9}),
         kwargs={"momentum": 0.8, "weight_decay_at_y": 0.01}, groups=G_LR_WD(0.02, 0.01)),
    dict(name="wrapref_adamw", cls="ScheduleFreeWrapperReference",
         base=("AdamW", {"lr": 0.01, "weight_decay": 0.01}),
         kwargs={"momentum": 0.9, "weight_decay_at_y": 0.1}, groups=G_LR_WD(0.02, 0.1)),
]


def mode_cases():
    """Expand MODE_SPECS x MODE_SEQS into concrete specs with missing-gradient sets."""
    out = []
    for ms in MODE_SPECS:
        for seq_name, seq in MODE_SEQS.items():
            ops = seq.split()
            n_steps = ops.count("S")
            ngroups = 1 if ms["groups"] is None else len(ms["groups"])
            if seq_name == "eval_first":
                # tensor 2 has no gradient on the first three steps (no state at the
                # first mid-run eval/train), tensor 1 none at step 4.
                missing = {(0, 2), (1, 2), (2, 2), (4, 1)}
                lr_mult = {}
            else:
                # tensor 1 has no gradient at step 2 (state exists, skipped); lr changes
                # (multipliers of each group's initial lr) before steps 3 and 5, i.e.
                # right after mode switches.
                missing = {(2, 1)}
                lr_mult = {3: [0.5, 2.0][:ngroups], 5: [0.25, 1.0][:ngroups]}
            out.append(dict(ms, name=f"{ms['name']}_{seq_name}", seq=ops, n_steps=n_steps,
                            missing=missing, lr_mult=lr_mult))
    return out


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def make_data(seed_name, n_steps, missing, zero_grad0=False):
    """Initial params and gradients (float64 numpy); None = no gradient."""
    rng = np.random.default_rng(zlib.crc32(seed_name.encode()))
    params = [rng.standard_normal(int(np.prod(s))) for s in SHAPES]
    grads = []
    for step in range(n_steps):
        row = []
        for i, s in enumerate(SHAPES):
            g = rng.standard_normal(int(np.prod(s)))
            if step == 0 and zero_grad0 and i == 0:
                g[0] = 0.0
            if (step, i) in missing:
                g = None
            row.append(g)
        grads.append(row)
    return params, grads


def spec_missing(spec):
    if spec.get("all_grads"):
        return set()
    return {(0, i) for i in spec["late"]} | {(2, 1)}


# --------------------------------------------------------------------------
# Building the optimizers
# --------------------------------------------------------------------------

def accepts(cls, key):
    return key in inspect.signature(cls.__init__).parameters


def make_target(ps, groups):
    if groups is None:
        return list(ps)
    return [dict({"params": [ps[i] for i in idx]}, **ov) for idx, ov in groups]


def prepare_base_state(opt):
    """WORKAROUND for wrapper-over-Adam/AdamW (see README / reference strings).

    Both schedulefree wrappers put 'z' (and, for the Reference wrapper, 'x', 'y')
    into base.state[p] before calling base.step(); torch 2.15's Adam/AdamW
    `_init_group` only initialises a parameter's state when `len(state) == 0`, so
    the unpatched combination raises KeyError('exp_avg') on the first step.  We
    create Adam's lazy state ourselves, exactly as `_init_group` would have
    (step = 0 scalar tensor, zero moments), for every parameter that has a
    gradient this step and no Adam state yet.  Nothing else is touched.
    """
    base = opt.base
    if not isinstance(base, (torch.optim.Adam, torch.optim.AdamW)):
        return
    from torch.optim.optimizer import _get_scalar_dtype
    for group in base.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            st = base.state[p]
            if "step" in st:
                continue
            if group["capturable"] or group["fused"]:
                st["step"] = torch.zeros((), dtype=_get_scalar_dtype(is_fused=group["fused"]), device=p.device)
            else:
                st["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype(), device="cpu")
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


class Runner:
    """One Python optimizer instance over tensors `ps`, with the driving logic."""

    def __init__(self, spec, ps, kwargs, base_kwargs=None):
        self.spec = spec
        self.ps = ps
        self.cls = spec["cls"]
        target = make_target(ps, spec["groups"])
        if self.cls in WRAPPERS:
            bname, _ = spec["base"]
            base = getattr(torch.optim, bname)(target, **base_kwargs)
            self.opt = getattr(schedulefree, self.cls)(base, **kwargs)
        else:
            self.opt = getattr(schedulefree, self.cls)(target, **kwargs)

    def _quiet(self, fn):
        # The *Reference classes print "Switching to ... mode".
        with contextlib.redirect_stdout(io.StringIO()):
            fn()

    def train(self):
        if self.cls not in CLOSURE:
            self._quiet(self.opt.train)

    def eval(self):
        if self.cls not in CLOSURE:
            self._quiet(self.opt.eval)

    def step(self, grads, lrs=None):
        if lrs is not None:
            assert len(lrs) == len(self.opt.param_groups)
            for g, v in zip(self.opt.param_groups, lrs):
                g["lr"] = v
        if self.cls in CLOSURE:
            def closure():
                for p, g in zip(self.ps, grads):
                    p.grad = None if g is None else g.clone()
                return 0.0
            self.opt.step(closure)
        else:
            for p, g in zip(self.ps, grads):
                p.grad = None if g is None else g.clone()
            if self.cls in WRAPPERS:
                prepare_base_state(self.opt)
            self.opt.step()

    def snapshot(self):
        return [p.detach().clone() for p in self.ps]


def to_torch(params_np, grads_np, dtype):
    ps = [torch.tensor(p, dtype=torch.float64).to(dtype).reshape(s) for p, s in zip(params_np, SHAPES)]
    grads = [[None if g is None else torch.tensor(g, dtype=torch.float64).to(dtype).reshape(s)
              for g, s in zip(row, SHAPES)] for row in grads_np]
    return ps, grads


def run_golden(spec, kwargs, base_kwargs, params_np, grads_np, dtype):
    """-> (list of snapshots per step, eval snapshot, initial tensors, torch grads)."""
    ps, grads = to_torch(params_np, grads_np, dtype)
    init = [p.clone() for p in ps]
    r = Runner(spec, ps, kwargs, base_kwargs)
    r.train()
    out = []
    for step in range(N_STEPS):
        r.step(grads[step], spec["lr_sched"].get(step))
        out.append(r.snapshot())
    r.eval()
    return out, r.snapshot(), init, grads


# --------------------------------------------------------------------------
# Config / path selection
# --------------------------------------------------------------------------

def configs(spec, dtype_name, path=None):
    """Constructor kwargs for `dtype_name`.

    path None: the golden choice (f64: foreach=False where the class has it, base
    foreach=False; f32: class default path, base fused=True).  path "loop" /
    "foreach": force that path (for the foreach-vs-loop check; base foreach=False).
    Returns (kwargs, base_kwargs, description of the path).
    """
    cls = spec["cls"]
    kwargs = dict(spec["kwargs"])
    if cls in WRAPPERS:
        bname, bk = spec["base"]
        base_kwargs = dict(bk)
        if dtype_name == "f64" or path is not None:
            base_kwargs["foreach"] = False
            desc = f"base torch.optim.{bname} single-tensor path (foreach=False)"
        else:
            base_kwargs["fused"] = True
            desc = f"base torch.optim.{bname} fused CPU kernel (fused=True)"
        return kwargs, base_kwargs, desc
    klass = getattr(schedulefree, cls)
    if path is not None:
        if accepts(klass, "foreach"):
            kwargs["foreach"] = path == "foreach"
        return kwargs, None, path
    if cls in FOREACH_IGNORED:
        if dtype_name == "f64":
            kwargs["foreach"] = False
        return kwargs, None, "its only path (per-parameter loop; `foreach` is accepted and ignored)"
    if dtype_name == "f64":
        kwargs["foreach"] = False
        return kwargs, None, "per-parameter loop path, foreach=False"
    return kwargs, None, "class default path: foreach=True (torch._foreach_* ops)"


def opt_config(spec, kwargs, base_kwargs):
    cfg = {"name": spec["cls"]}
    if spec["cls"] in WRAPPERS:
        cfg["base"] = dict({"name": spec["base"][0]}, **jcfg(base_kwargs))
    cfg.update(jcfg(kwargs))
    return cfg


def reference_string(spec, desc, extra=""):
    cls = spec["cls"]
    s = f"schedulefree {SF_VERSION} schedulefree.{cls} ({desc}), torch {TORCH_VERSION}, {CAP_NOTE}"
    if cls in CLOSURE:
        s += ("; driven by opt.step(closure), the closure assigns the step's gradients to p.grad "
              "(None when missing) and returns 0.0; params are what p holds after step (x); "
              "the class has no eval(), eval_params = last params")
    else:
        s += "; opt.train() before the first step, eval_params after opt.eval()"
    if cls in WRAPPERS and spec["base"][0] in ("Adam", "AdamW"):
        s += ("; WORKAROUND: unpatched, the wrapper raises KeyError('exp_avg') on the first step "
              "(it stores 'z' in base.state[p] before base.step(), and torch's Adam/AdamW only "
              "initialise state when len(state)==0); generated with the base's lazy state "
              "(step=0, exp_avg=exp_avg_sq=0) created, exactly as Adam would, just before each "
              "wrapper step for parameters that have a gradient and no Adam state yet")
    return s + extra


# tests/replay.rs's f32 tolerance form |ours - ref| <= REL*|ref| + ABS, used only to
# print how the f32-vs-f64 deviation compares with it (informational).
F32_TOL_REL, F32_TOL_ABS = 2e-6, 2e-7


def max_dev(a_snaps, b_snaps):
    """(max relative |a-b|/max(|b|,1e-30), max absolute, max relative where |b| >= 1e-3,
    max |a-b| / (F32_TOL_REL*|b| + F32_TOL_ABS))."""
    mr = ma = mr3 = mt = 0.0
    for a, b in zip(a_snaps, b_snaps):
        for x, y in zip(a, b):
            x = x.to(torch.float64)
            y = y.to(torch.float64)
            d = (x - y).abs()
            mr = max(mr, (d / y.abs().clamp(min=1e-30)).max().item())
            ma = max(ma, d.max().item())
            mt = max(mt, (d / (F32_TOL_REL * y.abs() + F32_TOL_ABS)).max().item())
            big = y.abs() >= 1e-3
            if big.any():
                mr3 = max(mr3, (d[big] / y.abs()[big]).max().item())
    return mr, ma, mr3, mt


def bit_identical(a_snaps, b_snaps):
    return all(torch.equal(x, y) for a, b in zip(a_snaps, b_snaps) for x, y in zip(a, b))


def f64_rerun(spec, init, grads, runner_fn):
    """Re-run the same (f32-rounded) inputs in float64, golden f64 configuration."""
    init_np = [p.to(torch.float64).reshape(-1).numpy() for p in init]
    grads64 = [[None if g is None else g.to(torch.float64).reshape(-1).numpy() for g in row] for row in grads]
    return runner_fn(init_np, grads64)


def build_case(spec, cfg, dtype_name, init, grads):
    case = {"optimizer": cfg,
            "dtype": dtype_name,
            "params": [{"shape": list(s), "data": jvec(p)} for s, p in zip(SHAPES, init)]}
    if spec["groups"] is not None:
        case["param_groups"] = [dict({"params": list(idx)}, **jcfg(ov)) for idx, ov in spec["groups"]]
    steps = []
    for step in range(N_STEPS):
        st = {"grads": [None if g is None else jvec(g) for g in grads[step]]}
        if step in spec["lr_sched"]:
            st["lr"] = [jnum(float(v)) for v in spec["lr_sched"][step]]
        steps.append(st)
    case["steps"] = steps
    case["eval_params"] = True
    return case


def with_fused_fallback(spec, base_kwargs, desc, fn):
    """Run fn(base_kwargs); if a fused base optimizer cannot run the case on CPU
    (fused SGD with momentum raises TypeError when a tensor gets its first gradient
    after others in its group already have momentum buffers), fall back to the base's
    single-tensor path and say so.  -> (fn result, base_kwargs used, path description)."""
    try:
        return fn(base_kwargs), base_kwargs, desc
    except (RuntimeError, TypeError, ValueError) as e:
        if not (spec["cls"] in WRAPPERS and base_kwargs.get("fused")):
            raise
        msg = f"{type(e).__name__}: {e}".replace("\n", " ")
        base_kwargs = dict(spec["base"][1], foreach=False)
        desc = (f"base torch.optim.{spec['base'][0]} single-tensor path (foreach=False; fused=True "
                f"cannot run this case on CPU: it raises {msg})")
        return fn(base_kwargs), base_kwargs, desc


def generate_case(spec, dtype_name):
    dtype = DTYPES[dtype_name]
    params_np, grads_np = make_data("sf_" + spec["name"], N_STEPS, spec_missing(spec),
                                    spec.get("zero_grad0", False))
    kwargs, base_kwargs, desc = configs(spec, dtype_name)
    extra = ""
    (steps, ev, init, grads), base_kwargs, desc = with_fused_fallback(
        spec, base_kwargs, desc,
        lambda bk: run_golden(spec, kwargs, bk, params_np, grads_np, dtype))

    # f32 vs f64 on the same (f32-rounded) inputs; for f64 this is a determinism check.
    k64, b64, _ = configs(spec, "f64")
    steps64, ev64, _, _ = f64_rerun(
        spec, init, grads,
        lambda p, g: run_golden(spec, k64, b64, p, g, torch.float64))
    dev = max_dev(steps + [ev], steps64 + [ev64])

    # foreach vs loop (classes with a real foreach path): must be bit-identical.
    same = None
    klass = getattr(schedulefree, spec["cls"])
    if spec["cls"] not in WRAPPERS and spec["cls"] not in FOREACH_IGNORED and accepts(klass, "foreach"):
        runs = {}
        for path in ("loop", "foreach"):
            kw, _, _ = configs(spec, dtype_name, path)
            s, e, _, _ = run_golden(spec, kw, None, params_np, grads_np, dtype)
            runs[path] = s + [e]
        same = bit_identical(runs["loop"], runs["foreach"])
        if not same:
            raise SystemExit(f"sf_{spec['name']}_{dtype_name}: foreach and loop paths differ")
        if dtype_name == "f32":
            extra = "; the foreach=False loop path gives bit-identical results"

    cfg = opt_config(spec, kwargs, base_kwargs)
    case = build_case(spec, cfg, dtype_name, init, grads)
    expected = {"steps": [{"params": [jvec(p) for p in snap]} for snap in steps],
                "eval_params": [jvec(p) for p in ev]}
    obj = {"reference": reference_string(spec, desc, extra), "case": case, "expected": expected}
    return obj, dev, same


# --------------------------------------------------------------------------
# Mode-switch trajectories
# --------------------------------------------------------------------------

def mode_lr_sched(ms):
    """Per-step lr lists: the spec's multipliers times each group's initial lr."""
    if not ms["lr_mult"]:
        return {}
    groups = ms["groups"]
    if ms["cls"] in WRAPPERS:
        default_lr = ms["base"][1]["lr"]
    else:
        default_lr = ms["kwargs"].get("lr", inspect.signature(
            getattr(schedulefree, ms["cls"]).__init__).parameters["lr"].default)
    base_lrs = [default_lr] if groups is None else [ov.get("lr", default_lr) for _, ov in groups]
    return {step: [float(b * m) for b, m in zip(base_lrs, mult)] for step, mult in ms["lr_mult"].items()}


def run_modes(ms, kwargs, base_kwargs, params_np, grads_np, dtype):
    ps, grads = to_torch(params_np, grads_np, dtype)
    init = [p.clone() for p in ps]
    r = Runner(ms, ps, kwargs, base_kwargs)
    lr_sched = mode_lr_sched(ms)
    events = []
    si = 0
    for op in ms["seq"]:
        if op == "T":
            r.train()
            events.append({"op": "train", "params": r.snapshot()})
        elif op == "E":
            r.eval()
            events.append({"op": "eval", "params": r.snapshot()})
        else:
            lrs = lr_sched.get(si)
            r.step(grads[si], lrs)
            ev = {"op": "step", "grads": grads[si]}
            if lrs is not None:
                ev["lr"] = lrs
            ev["params"] = r.snapshot()
            events.append(ev)
            si += 1
    return events, init, grads


def generate_mode_case(ms, dtype_name):
    dtype = DTYPES[dtype_name]
    params_np, grads_np = make_data("sf_modes_" + ms["name"], ms["n_steps"], ms["missing"])
    kwargs, base_kwargs, desc = configs(ms, dtype_name)
    (events, init, grads), base_kwargs, desc = with_fused_fallback(
        ms, base_kwargs, desc,
        lambda bk: run_modes(ms, kwargs, bk, params_np, grads_np, dtype))
    k64, b64, _ = configs(ms, "f64")
    ev64, _, _ = f64_rerun(ms, init, grads, lambda p, g: run_modes(ms, k64, b64, p, g, torch.float64))
    dev = max_dev([e["params"] for e in events], [e["params"] for e in ev64])

    cfg = opt_config(ms, kwargs, base_kwargs)
    case = {"optimizer": cfg, "dtype": dtype_name,
            "params": [{"shape": list(s), "data": jvec(p)} for s, p in zip(SHAPES, init)]}
    if ms["groups"] is not None:
        case["param_groups"] = [dict({"params": list(idx)}, **jcfg(ov)) for idx, ov in ms["groups"]]
    out_events = []
    for e in events:
        o = {"op": e["op"]}
        if e["op"] == "step":
            o["grads"] = [None if g is None else jvec(g) for g in e["grads"]]
            if "lr" in e:
                o["lr"] = [jnum(v) for v in e["lr"]]
        o["params"] = [jvec(p) for p in e["params"]]
        out_events.append(o)
    ref = (f"schedulefree {SF_VERSION} schedulefree.{ms['cls']} ({desc}), torch {TORCH_VERSION}, {CAP_NOTE}; "
           f"mode-switch events {' '.join(ms['seq'])} (T=train, E=eval, S=step) from the constructor's "
           f"initial state (train_mode "
           f"{'True' if ms['cls'] == 'SGDScheduleFreeReference' else 'False'})")
    if ms["cls"] in WRAPPERS and ms["base"][0] in ("Adam", "AdamW"):
        ref += ("; WORKAROUND: base Adam/AdamW state created before each wrapper step exactly as Adam's "
                "lazy init would (the unpatched wrapper raises KeyError('exp_avg'))")
    return {"reference": ref, "case": case, "events": out_events}, dev


# --------------------------------------------------------------------------
# Error cases
# --------------------------------------------------------------------------

ERROR_SPECS = [
    # name, class, kwargs (for wrappers: {"base": (name, kwargs) or absent, ...}), error_key
    ("sgd_momentum_zero", "SGDScheduleFree", {"lr": 0.1, "momentum": 0.0}, "momentum"),
    ("sgd_momentum_one", "SGDScheduleFree", {"lr": 0.1, "momentum": 1.0}, "momentum"),
    ("sgd_negative_lr", "SGDScheduleFree", {"lr": -0.1}, "lr"),
    ("sgd_negative_weight_decay", "SGDScheduleFree", {"lr": 0.1, "weight_decay": -0.01}, "weight_decay"),
    ("sgd_unknown_key_betas", "SGDScheduleFree", {"lr": 0.1, "betas": (0.9, 0.999)}, "betas"),
    ("sgd_reference_momentum_one", "SGDScheduleFreeReference", {"lr": 0.1, "momentum": 1.0}, "momentum"),
    ("sgd_reference_negative_lr", "SGDScheduleFreeReference", {"lr": -0.1}, "lr"),
    ("sgd_reference_negative_weight_decay", "SGDScheduleFreeReference",
     {"lr": 0.1, "weight_decay": -0.01}, "weight_decay"),
    ("sgd_closure_momentum_zero", "SGDScheduleFreeClosure", {"lr": 0.1, "momentum": 0.0}, "momentum"),
    ("sgd_closure_negative_lr", "SGDScheduleFreeClosure", {"lr": -0.1}, "lr"),
    ("sgd_closure_negative_weight_decay", "SGDScheduleFreeClosure",
     {"lr": 0.1, "weight_decay": -0.01}, "weight_decay"),
    ("adamw_unknown_key_momentum", "AdamWScheduleFree", {"lr": 0.01, "momentum": 0.9}, "momentum"),
    ("adamw_unknown_key_decay_at_z", "AdamWScheduleFree", {"lr": 0.01, "decay_at_z": True}, "decay_at_z"),
    ("adamw_unknown_key_silent_sgd_phase", "AdamWScheduleFree",
     {"lr": 0.01, "silent_sgd_phase": False}, "silent_sgd_phase"),
    ("adamw_closure_unknown_key_decay_at_z", "AdamWScheduleFreeClosure",
     {"lr": 0.01, "decay_at_z": True}, "decay_at_z"),
    ("adamw_paper_unknown_key_decay_at_z", "AdamWScheduleFreePaper",
     {"lr": 0.01, "decay_at_z": True}, "decay_at_z"),
    ("adamw_reference_unknown_key_momentum", "AdamWScheduleFreeReference",
     {"lr": 0.01, "momentum": 0.9}, "momentum"),
    ("radam_unknown_key_warmup_steps", "RAdamScheduleFree", {"lr": 0.01, "warmup_steps": 3}, "warmup_steps"),
    ("radam_closure_unknown_key_warmup_steps", "RAdamScheduleFreeClosure",
     {"lr": 0.01, "warmup_steps": 3}, "warmup_steps"),
    ("sgd_unknown_key_silent_sgd_phase", "SGDScheduleFree",
     {"lr": 0.1, "silent_sgd_phase": True}, "silent_sgd_phase"),
    ("wrap_unknown_key_warmup_steps", "ScheduleFreeWrapper",
     {"base": ("SGD", {"lr": 0.1}), "warmup_steps": 3}, "warmup_steps"),
    ("wrap_unknown_key_foreach", "ScheduleFreeWrapper",
     {"base": ("SGD", {"lr": 0.1}), "foreach": False}, "foreach"),
    ("wrap_unknown_key_betas", "ScheduleFreeWrapper",
     {"base": ("AdamW", {"lr": 0.01}), "betas": (0.9, 0.999)}, "betas"),
    ("wrapref_unknown_key_warmup_steps", "ScheduleFreeWrapperReference",
     {"base": ("SGD", {"lr": 0.1}), "warmup_steps": 3}, "warmup_steps"),
    ("wrap_missing_base", "ScheduleFreeWrapper", {"momentum": 0.9}, "base"),
    ("wrapref_missing_base", "ScheduleFreeWrapperReference", {"momentum": 0.9}, "base"),
    ("wrap_base_negative_lr", "ScheduleFreeWrapper", {"base": ("SGD", {"lr": -0.1})}, "lr"),
    ("wrap_base_adamw_beta1_one", "ScheduleFreeWrapper",
     {"base": ("AdamW", {"lr": 0.01, "betas": (1.0, 0.999)})}, "betas[0]"),
    ("wrapref_base_unknown_key_nesterov", "ScheduleFreeWrapperReference",
     {"base": ("Adam", {"lr": 0.01, "nesterov": True})}, "nesterov"),
]


def fmt_kwargs(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def generate_error(name, cls, kwargs, key):
    p = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    kwargs = dict(kwargs)
    base = kwargs.pop("base", None)
    if cls in WRAPPERS:
        if base is not None:
            call = f"schedulefree.{cls}(torch.optim.{base[0]}([p], {fmt_kwargs(base[1])})"
            call += (", " + fmt_kwargs(kwargs) if kwargs else "") + ")"
        else:
            call = f"schedulefree.{cls}({fmt_kwargs(kwargs)})"
    else:
        call = f"schedulefree.{cls}([p], {fmt_kwargs(kwargs)})"
    lib = f"schedulefree {SF_VERSION}"
    try:
        if cls in WRAPPERS:
            if base is None:
                getattr(schedulefree, cls)(**kwargs)
            else:
                lib = f"torch {TORCH_VERSION}"
                b = getattr(torch.optim, base[0])([p], **base[1])
                lib = f"schedulefree {SF_VERSION}"
                getattr(schedulefree, cls)(b, **kwargs)
        else:
            getattr(schedulefree, cls)([p], **kwargs)
    except (ValueError, AssertionError, TypeError) as e:
        msg = str(e).replace("\n", " ").strip()
        ref = f"{lib}: {call} raises {type(e).__name__}"
        if msg:
            ref += f": {msg}"
    else:
        return None
    cfg = {"name": cls}
    if base is not None:
        cfg["base"] = dict({"name": base[0]}, **jcfg(base[1]))
    cfg.update(jcfg(kwargs))
    case = {"optimizer": cfg,
            "dtype": "f64",
            "params": [{"shape": [3], "data": [0.5, -1.0, 2.0]}],
            "steps": [{"grads": [[0.25, -0.5, 1.0]]}]}
    return {"reference": ref, "error_key": key, "case": case}


# --------------------------------------------------------------------------

def main():
    for pkg, want in EXPECTED_VERSIONS.items():
        have = TORCH_VERSION if pkg == "torch" else SF_VERSION
        if have != want:
            print(f"warning: {pkg} {have} installed, goldens are specified for {want}", file=sys.stderr)
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() != CPU_CAP.lower():
        print(f"warning: ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY')} requested, "
              f"torch runs {CPU_CAP}", file=sys.stderr)
    if torch.get_default_dtype() != torch.float32:
        raise SystemExit("default dtype must be float32 (torch's default)")

    written = set()
    print("golden cases (f32 lines: deviation from the float64 run of the same f32-rounded inputs, "
          ""
          f"max rel / max abs / max rel where |ref|>=1e-3 / max |d|/({F32_TOL_REL:g}|ref|+{F32_TOL_ABS:g}))")
    for spec in SPECS:
        for dtype_name in ("f64", "f32"):
            obj, dev, same = generate_case(spec, dtype_name)
            fname = f"sf_{spec['name']}_{dtype_name}.json"
            if dtype_name == "f64" and dev[0] != 0.0:
                raise SystemExit(f"{fname}: float64 re-run is not reproducible ({dev[0]:.3e})")
            if dtype_name == "f32" and dev[2] > 1e-3:
                raise SystemExit(f"{fname}: f32 deviates from the float64 run by {dev[2]:.3e}")
            write_json(OUT / fname, obj)
            written.add(OUT / fname)
            size = (OUT / fname).stat().st_size
            fe = "" if same is None else "  foreach==loop bitwise"
            devs = (f"{dev[0]:.2e} / {dev[1]:.2e} / {dev[2]:.2e} / {dev[3]:.2f}x"
                    if dtype_name == "f32" else "-")
            print(f"{fname:46s} {size:7d} B  f32-vs-f64 {devs}{fe}")

    print("mode-switch cases")
    for ms in mode_cases():
        for dtype_name in ("f64", "f32"):
            obj, dev = generate_mode_case(ms, dtype_name)
            fname = f"sf_{ms['name']}_{dtype_name}.json"
            if dtype_name == "f64" and dev[0] != 0.0:
                raise SystemExit(f"modes/{fname}: float64 re-run is not reproducible ({dev[0]:.3e})")
            if dtype_name == "f32" and dev[2] > 1e-3:
                raise SystemExit(f"modes/{fname}: f32 deviates from the float64 run by {dev[2]:.3e}")
            write_json(OUT_MODES / fname, obj)
            written.add(OUT_MODES / fname)
            devs = (f"{dev[0]:.2e} / {dev[1]:.2e} / {dev[2]:.2e} / {dev[3]:.2f}x"
                    if dtype_name == "f32" else "-")
            print(f"modes/{fname:40s} {(OUT_MODES / fname).stat().st_size:7d} B  f32-vs-f64 {devs}")

    for name, cls, kwargs, key in ERROR_SPECS:
        obj = generate_error(name, cls, kwargs, key)
        if obj is None:
            print(f"errors/sf_{name}.json: NOT written ({cls}({kwargs}) does not raise)")
            continue
        write_json(OUT_ERR / f"sf_{name}.json", obj)
        written.add(OUT_ERR / f"sf_{name}.json")
        print(f"errors/sf_{name + '.json':44s} {obj['reference']}")

    stale = [p for d in (OUT, OUT_ERR, OUT_MODES) for p in sorted(d.glob("sf_*.json")) if p not in written]
    for p in stale:
        print(f"warning: {p.relative_to(REPO)} was not produced by this run (left untouched)", file=sys.stderr)
    print(f"{len([p for p in written if p.parent == OUT])} golden cases, "
          f"{len([p for p in written if p.parent == OUT_MODES])} mode-switch cases, "
          f"{len([p for p in written if p.parent == OUT_ERR])} error cases, {CAP_NOTE}")


if __name__ == "__main__":
    main()
