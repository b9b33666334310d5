#!/usr/bin/env python3
"""Generate golden reference trajectories for optim-kernels from the real
Python libraries (torch.optim, lion-pytorch).

Run with the reference venv (see tools/golden/README.md):

    ~/refenv/bin/python tools/golden/gen_golden.py

Writes
    tests/golden/<name>.json         {"reference", "case", "expected"}
    tests/golden/errors/<name>.json  {"reference", "error_key", "case"}

`case` is exactly a REPLAY.md case (/work/shared/REPLAY.md); `expected` is
{"steps": [{"params": [...]}, ...]}: the parameters after every step.

Everything is deterministic (fixed seeds, single thread, pinned
ATEN_CPU_CAPABILITY), so re-running reproduces the files byte for byte.

RAdam, NAdam, ASGD and Rprop (no fused CPU kernel): f64 cases run the
single-tensor path (foreach=False) under torch.set_default_dtype(torch.float64),
so that the per-tensor scalars torch keeps as 0-dim tensors of
`_get_scalar_dtype()` (step; NAdam's mu_product; ASGD's eta and mu) are float64
like the parameters, not float32 (torch/optim/optimizer.py:221-226). The script
measures what that changes (the same case under the float32 default) and records
it in each file's `reference`. f32 cases run torch's default dispatch (no
foreach/fused keyword: the single-tensor path on CPU; checked bitwise against
foreach=False) under the float32 default dtype, i.e. with float32 scalars.

SparseAdam takes no foreach/fused keyword and keeps `step` as a Python int: every
case runs its only path with `p.grad = g.to_sparse()` (exact zeros, +0 and -0,
are absent from the sparse gradient, as REPLAY.md specifies), under the default
float32 dtype for both f64 and f32 cases.
"""

import os

# Pin the CPU kernel set before torch is imported: AVX2 and AVX512 kernels
# give identical results for the ops used here (FMA in add/addcmul/lerp), the
# `default` kernels do not (no FMA).  Override only if you know why.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import sys  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from goldjson import jcfg, jvec, write_json  # noqa: E402
import lion_pytorch  # noqa: E402
from importlib.metadata import version as _pkg_version  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "golden"
OUT_ERR = OUT / "errors"

TORCH_VERSION = torch.__version__.split("+")[0]
LION_VERSION = _pkg_version("lion-pytorch")
CPU_CAP = torch.backends.cpu.get_cpu_capability()
CAP_NOTE = f"ATEN_CPU_CAPABILITY={CPU_CAP}"

EXPECTED_VERSIONS = {"torch": "2.15.0", "lion-pytorch": "0.2.5"}

SHAPES = [[3, 4], [5], [10, 15]]
N_STEPS = 6
DTYPES = {"f64": torch.float64, "f32": torch.float32}


# --------------------------------------------------------------------------
# Case specifications
# --------------------------------------------------------------------------
#
# Each spec:
#   name        base file name (dtype suffix added)
#   opt         "SGD" | "Adam" | "AdamW" | "RMSprop" | "Adagrad" | "Adadelta" | "Adamax" | "Lion"
#   kwargs      constructor keyword arguments (besides params / foreach / fused)
#   groups      None (one implicit group) or list of (tensor indices, overrides)
#   late        tensor indices with no gradient on the FIRST step (step 0)
#   lr_sched    {step index: [lr per group]} (applied before that step)
#   grad_scale  optional per-tensor multiplier for the gradients
#   zero_grad0  if True, element 0 of tensor 0's gradient at step 0 is exactly 0
#   steps       number of steps (default N_STEPS)
#   zero_frac   optional: this fraction of gradient elements is exactly 0 (every step)
#   grad_shift  optional per-tensor constant added to the gradients (persistent signs)
#   f32_diverges  the float32 reference legitimately differs from float64 (skip that check)
#   neg_zero_frac optional: this fraction of gradient elements is exactly -0.0 (every step)
#   all_zero    optional {step index: [tensor indices]}: those gradients are all zeros (+0 and -0)
#
# Always: tensor 1 has no gradient at step index 2.

G_LR_WD = lambda lr0, wd1: [([0, 2], {"lr": lr0}), ([1], {"weight_decay": wd1})]  # noqa: E731

SPECS = [
    # ---------------------------------------------------------------- SGD
    dict(name="sgd_plain", opt="SGD", kwargs={"lr": 0.1},
         groups=None, late=[2], lr_sched={3: [0.05], 5: [0.02]}),
    dict(name="sgd_wd_groups", opt="SGD", kwargs={"lr": 0.1, "weight_decay": 0.01},
         groups=G_LR_WD(0.05, 0.0), late=[], lr_sched={3: [0.03, 0.07], 5: [0.01, 0.02]}),
    dict(name="sgd_momentum", opt="SGD", kwargs={"lr": 0.05, "momentum": 0.9},
         groups=G_LR_WD(0.02, 0.01), late=[1], lr_sched={3: [0.01, 0.03], 5: [0.005, 0.01]},
         zero_grad0=True),
    dict(name="sgd_momentum_dampening_wd", opt="SGD",
         kwargs={"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
         groups=None, late=[0], lr_sched={3: [0.02], 5: [0.01]}),
    dict(name="sgd_nesterov_wd", opt="SGD",
         kwargs={"lr": 0.05, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.01, "nesterov": True},
         groups=G_LR_WD(0.02, 0.0), late=[], lr_sched={3: [0.01, 0.03], 5: [0.005, 0.01]}),
    dict(name="sgd_maximize_dampening", opt="SGD",
         kwargs={"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "maximize": True},
         groups=[([0, 2], {"lr": 0.02}), ([1], {"momentum": 0.5, "weight_decay": 0.01})],
         late=[], lr_sched={3: [0.01, 0.03], 5: [0.005, 0.01]}),
    dict(name="sgd_nesterov_maximize", opt="SGD",
         kwargs={"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01, "maximize": True},
         groups=None, late=[], lr_sched={3: [0.01], 5: [0.005]}),
    dict(name="sgd_maximize_plain_wd", opt="SGD",
         kwargs={"lr": 0.1, "weight_decay": 0.01, "maximize": True},
         groups=G_LR_WD(0.05, 0.1), late=[1], lr_sched={3: [0.02, 0.05], 5: [0.01, 0.02]}),

    # ---------------------------------------------------------------- Adam
    dict(name="adam_default", opt="Adam", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 5: [0.002]}, zero_grad0=True),
    dict(name="adam_l2", opt="Adam", kwargs={"lr": 0.01, "weight_decay": 0.01},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}),
    dict(name="adam_amsgrad_l2", opt="Adam", kwargs={"lr": 0.01, "weight_decay": 0.01, "amsgrad": True},
         groups=G_LR_WD(0.03, 0.0), late=[], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]},
         grad_scale=[1.0, 1.0, 0.5]),
    dict(name="adam_maximize", opt="Adam", kwargs={"lr": 0.01, "maximize": True},
         groups=G_LR_WD(0.02, 0.01), late=[], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}),
    dict(name="adam_decoupled_wd", opt="Adam",
         kwargs={"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
         groups=G_LR_WD(0.02, 0.5), late=[], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}),
    dict(name="adam_beta1_03_amsgrad_maximize", opt="Adam",
         kwargs={"lr": 0.02, "betas": (0.3, 0.999), "amsgrad": True, "maximize": True},
         groups=None, late=[0], lr_sched={3: [0.01], 5: [0.005]}),

    # ---------------------------------------------------------------- AdamW
    dict(name="adamw_default", opt="AdamW", kwargs={"lr": 0.01},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}),
    dict(name="adamw_amsgrad", opt="AdamW", kwargs={"lr": 0.01, "amsgrad": True},
         groups=None, late=[2], lr_sched={3: [0.005], 5: [0.002]}, zero_grad0=True),
    dict(name="adamw_maximize_wd", opt="AdamW", kwargs={"lr": 0.01, "weight_decay": 0.1, "maximize": True},
         groups=G_LR_WD(0.02, 0.0), late=[], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}),
    dict(name="adamw_eps_wd", opt="AdamW", kwargs={"lr": 0.02, "weight_decay": 0.1, "eps": 1e-6},
         groups=[([0, 2], {"lr": 0.01}), ([1], {"weight_decay": 0.01, "eps": 1e-5})],
         late=[], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]},
         grad_scale=[1.0, 1e-5, 1e-6]),

    # ---------------------------------------------------------------- RMSprop
    dict(name="rmsprop_default", opt="RMSprop", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 5: [0.002]}, zero_grad0=True),
    dict(name="rmsprop_momentum_wd", opt="RMSprop", kwargs={"lr": 0.01, "momentum": 0.9, "weight_decay": 0.01},
         groups=G_LR_WD(0.005, 0.0), late=[1], lr_sched={3: [0.002, 0.005], 5: [0.001, 0.002]}),
    # group 1: alpha 0.5 takes lerp's second formula (weight 1 - alpha >= 0.5), larger eps
    dict(name="rmsprop_centered_eps_alpha", opt="RMSprop",
         kwargs={"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "centered": True},
         groups=[([0, 2], {"lr": 0.005}), ([1], {"alpha": 0.5, "eps": 1e-3})], late=[0],
         lr_sched={3: [0.002, 0.005], 5: [0.001, 0.002]}, zero_grad0=True),
    dict(name="rmsprop_centered_momentum_maximize_wd", opt="RMSprop",
         kwargs={"lr": 0.005, "momentum": 0.5, "centered": True, "maximize": True, "weight_decay": 0.1},
         groups=G_LR_WD(0.002, 0.0), late=[], lr_sched={3: [0.001, 0.003], 5: [0.0005, 0.001]}),
    # a momentum buffer in group 1 only (per-group state layout); differentiable is accepted
    dict(name="rmsprop_group_momentum_maximize", opt="RMSprop",
         kwargs={"lr": 0.01, "alpha": 0.3, "maximize": True, "differentiable": True},
         groups=[([0, 2], {}), ([1], {"momentum": 0.9, "centered": True})], late=[1],
         lr_sched={3: [0.005, 0.002], 5: [0.002, 0.001]}),

    # ---------------------------------------------------------------- Adagrad
    dict(name="adagrad_default", opt="Adagrad", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 5: [0.002]}, zero_grad0=True),
    dict(name="adagrad_lr_decay_wd", opt="Adagrad", kwargs={"lr": 0.05, "lr_decay": 0.1, "weight_decay": 0.01},
         groups=G_LR_WD(0.02, 0.0), late=[1], lr_sched={3: [0.01, 0.03], 5: [0.005, 0.01]}),
    # torch fills `sum` in __init__ from the constructor's initial_accumulator_value: group 1's
    # override is accepted and never read.
    dict(name="adagrad_initial_accumulator_eps", opt="Adagrad",
         kwargs={"lr": 0.05, "initial_accumulator_value": 0.5, "eps": 1e-6},
         groups=[([0, 2], {"lr": 0.02}), ([1], {"initial_accumulator_value": 2.0, "eps": 1e-3, "lr_decay": 0.5})],
         late=[0], lr_sched={3: [0.01, 0.03], 5: [0.005, 0.01]}, zero_grad0=True),
    dict(name="adagrad_maximize_wd_lr_decay", opt="Adagrad",
         kwargs={"lr": 0.02, "maximize": True, "weight_decay": 0.1, "lr_decay": 0.05,
                 "initial_accumulator_value": 0.1},
         groups=G_LR_WD(0.01, 0.0), late=[], lr_sched={3: [0.005, 0.01], 5: [0.002, 0.005]}),

    # ---------------------------------------------------------------- Adadelta
    dict(name="adadelta_default", opt="Adadelta", kwargs={"lr": 1.0},
         groups=None, late=[2], lr_sched={3: [0.5], 5: [0.2]}, zero_grad0=True),
    dict(name="adadelta_rho_wd", opt="Adadelta", kwargs={"lr": 1.0, "rho": 0.5, "weight_decay": 0.01},
         groups=G_LR_WD(0.5, 0.0), late=[1], lr_sched={3: [0.2, 0.5], 5: [0.1, 0.2]}),
    # group 1: rho = 1 (torch accepts it: both averages stay at 0, so the step is lr * grad)
    dict(name="adadelta_eps_maximize_rho1", opt="Adadelta", kwargs={"lr": 0.5, "eps": 1e-4, "maximize": True},
         groups=[([0, 2], {"lr": 1.0}), ([1], {"rho": 1.0, "eps": 1e-2, "weight_decay": 0.1, "lr": 0.01})],
         late=[0], lr_sched={3: [0.5, 0.005], 5: [0.2, 0.002]}, zero_grad0=True),
    dict(name="adadelta_rho0_maximize_wd", opt="Adadelta",
         kwargs={"lr": 2.0, "rho": 0.0, "weight_decay": 0.1, "maximize": True},
         groups=G_LR_WD(1.0, 0.0), late=[], lr_sched={3: [0.5, 1.0], 5: [0.2, 0.5]}),

    # ---------------------------------------------------------------- Adamax
    dict(name="adamax_default", opt="Adamax", kwargs={"lr": 0.002},
         groups=None, late=[2], lr_sched={3: [0.001], 5: [0.0005]}, zero_grad0=True),
    dict(name="adamax_betas_wd", opt="Adamax", kwargs={"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.01},
         groups=G_LR_WD(0.005, 0.0), late=[1], lr_sched={3: [0.002, 0.005], 5: [0.001, 0.002]}),
    # beta1 = 0.3: lerp's second formula; tensor 2's gradients are ~1e-4, so eps = 1e-3 decides
    # max(beta2 * exp_inf, |g| + eps)
    dict(name="adamax_beta1_03_maximize_eps", opt="Adamax",
         kwargs={"lr": 0.01, "betas": (0.3, 0.9), "maximize": True, "eps": 1e-3},
         groups=[([0, 2], {"lr": 0.02}), ([1], {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1})],
         late=[0], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}, zero_grad0=True,
         grad_scale=[1.0, 1.0, 1e-4]),
    dict(name="adamax_maximize_wd_beta1_05", opt="Adamax",
         kwargs={"lr": 0.005, "maximize": True, "weight_decay": 0.1, "betas": (0.5, 0.999)},
         groups=G_LR_WD(0.002, 0.0), late=[], lr_sched={3: [0.001, 0.003], 5: [0.0005, 0.001]}),

    # ---------------------------------------------------------------- Lion
    dict(name="lion_default", opt="Lion", kwargs={"lr": 1e-3},
         groups=[([0, 2], {"lr": 2e-3}), ([1], {"weight_decay": 0.1})], late=[1],
         lr_sched={3: [1e-3, 5e-4], 5: [5e-4, 2e-4]}, zero_grad0=True),
    dict(name="lion_wd", opt="Lion", kwargs={"lr": 1e-3, "weight_decay": 0.1},
         groups=G_LR_WD(3e-3, 0.5), late=[], lr_sched={3: [1e-3, 5e-4], 5: [5e-4, 2e-4]}),
    dict(name="lion_decoupled_wd", opt="Lion",
         kwargs={"lr": 1e-3, "weight_decay": 0.1, "decoupled_weight_decay": True},
         groups=G_LR_WD(3e-3, 0.05), late=[], lr_sched={3: [1e-3, 5e-4], 5: [5e-4, 2e-4]}),
    dict(name="lion_betas", opt="Lion", kwargs={"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.01},
         groups=None, late=[0], lr_sched={3: [5e-4], 5: [2e-4]}),

    # ---------------------------------------------------------------- RAdam
    # Nine steps: with beta2 >= 0.9 the rectified branch (rho_t > 5) starts at step 6.
    dict(name="radam_default", opt="RAdam", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 6: [0.002]}, zero_grad0=True, steps=9),
    dict(name="radam_l2", opt="RAdam", kwargs={"lr": 0.01, "weight_decay": 0.01},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={3: [0.01, 0.005], 6: [0.005, 0.002]}, steps=9),
    dict(name="radam_decoupled_wd", opt="RAdam",
         kwargs={"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
         groups=G_LR_WD(0.02, 0.5), late=[], lr_sched={3: [0.01, 0.005], 6: [0.005, 0.002]}, steps=9),
    dict(name="radam_maximize_betas", opt="RAdam",
         kwargs={"lr": 0.02, "betas": (0.5, 0.9), "maximize": True},
         groups=[([0, 2], {"lr": 0.01}), ([1], {"betas": (0.9, 0.99), "eps": 1e-6})],
         late=[0], lr_sched={3: [0.01, 0.005], 6: [0.005, 0.002]}, steps=9),
    dict(name="radam_beta2_05_never_rectified", opt="RAdam",
         kwargs={"lr": 0.01, "betas": (0.3, 0.5), "eps": 1e-6, "weight_decay": 0.01},
         groups=None, late=[], lr_sched={3: [0.005], 5: [0.002]}, steps=8),

    # ---------------------------------------------------------------- NAdam
    dict(name="nadam_default", opt="NAdam", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 5: [0.002]}, zero_grad0=True),
    dict(name="nadam_l2", opt="NAdam", kwargs={"lr": 0.01, "weight_decay": 0.01},
         groups=G_LR_WD(0.02, 0.1), late=[1], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}),
    dict(name="nadam_decoupled_wd", opt="NAdam",
         kwargs={"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
         groups=G_LR_WD(0.02, 0.5), late=[], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}, steps=9),
    dict(name="nadam_maximize_momentum_decay", opt="NAdam",
         kwargs={"lr": 0.02, "betas": (0.3, 0.999), "momentum_decay": 0.1, "maximize": True},
         groups=[([0, 2], {"lr": 0.01}), ([1], {"momentum_decay": 0.0, "betas": (0.9, 0.99)})],
         late=[0], lr_sched={3: [0.01, 0.005], 5: [0.005, 0.002]}, steps=9),
    dict(name="nadam_beta1_zero_eps", opt="NAdam",
         kwargs={"lr": 0.01, "betas": (0.0, 0.9), "eps": 1e-4},
         groups=None, late=[], lr_sched={3: [0.005]}, grad_scale=[1.0, 1e-3, 1.0]),

    # ---------------------------------------------------------------- ASGD
    dict(name="asgd_default", opt="ASGD", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 5: [0.002]}, zero_grad0=True),
    # t0 = 2: mu = 1/(t - 2) from step 4 on, so ax averages.
    dict(name="asgd_t0_averaging", opt="ASGD",
         kwargs={"lr": 0.05, "t0": 2.0, "lambd": 1e-2, "alpha": 0.5},
         groups=G_LR_WD(0.02, 0.01), late=[1], lr_sched={3: [0.01, 0.03], 6: [0.005, 0.01]}, steps=9),
    dict(name="asgd_wd_maximize", opt="ASGD",
         kwargs={"lr": 0.05, "weight_decay": 0.01, "maximize": True, "t0": 1.5, "lambd": 0.1, "alpha": 1.0},
         groups=[([0, 2], {"lr": 0.02, "t0": 0.0}), ([1], {"lambd": 0.0, "alpha": 0.0})],
         late=[0], lr_sched={3: [0.01, 0.03], 6: [0.005, 0.01]}, steps=8),

    # ---------------------------------------------------------------- Rprop
    dict(name="rprop_default", opt="Rprop", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 6: [0.002]}, zero_grad0=True, steps=9,
         zero_frac=0.15),
    # Persistent signs (shifted gradients) drive the step sizes into both bounds.
    dict(name="rprop_step_sizes_groups", opt="Rprop",
         kwargs={"lr": 0.01, "step_sizes": (5e-3, 2e-2)},
         groups=[([0, 2], {"lr": 0.02}), ([1], {"etas": (0.3, 1.5)})],
         late=[1], lr_sched={3: [0.01, 0.03], 6: [0.005, 0.01]}, steps=9, grad_shift=[1.0, 0.0, 0.5]),
    dict(name="rprop_maximize_etas", opt="Rprop",
         kwargs={"lr": 0.05, "etas": (0.25, 2.0), "step_sizes": (1e-3, 0.1), "maximize": True},
         groups=G_LR_WD(0.02, 0.0)[:1] + [([1], {"etas": (0.9, 1.1)})],
         late=[0], lr_sched={3: [0.01, 0.03]}, steps=8, zero_frac=0.3),
    # step_sizes[0] > step_sizes[1]: torch's clamp makes every step size step_sizes[1].
    dict(name="rprop_min_above_max", opt="Rprop", kwargs={"lr": 0.01, "step_sizes": (0.05, 0.02)},
         groups=None, late=[], lr_sched={}, steps=6),
    # etas that round to 0 / 1 in float32: torch compares its float32 factors, so the f32 and f64
    # trajectories differ qualitatively (f32: a tiny etaminus becomes 1 and nothing is zeroed;
    # etas that both round to 1 zero every gradient, and nothing moves).
    dict(name="rprop_etaminus_tiny", opt="Rprop", kwargs={"lr": 0.01, "etas": (1e-50, 1.2)},
         groups=None, late=[], lr_sched={}, steps=6, zero_frac=0.2, f32_diverges=True),
    dict(name="rprop_etas_near_one", opt="Rprop",
         kwargs={"lr": 0.01, "etas": (1.0 - 1e-9, 1.0 + 1e-9)},
         groups=None, late=[1], lr_sched={}, steps=6, f32_diverges=True),

    # ---------------------------------------------------------------- SparseAdam
    # Gradients go through to_sparse(): exact zeros (+0 and -0) are absent. all_zero gives a tensor
    # a gradient without entries (nnz = 0): its step counts, nothing moves.
    dict(name="sparse_adam_default", opt="SparseAdam", kwargs={"lr": 0.01},
         groups=None, late=[2], lr_sched={3: [0.005], 6: [0.002]}, zero_grad0=True, steps=8,
         zero_frac=0.3, neg_zero_frac=0.1, all_zero={1: [0], 4: [2]}),
    dict(name="sparse_adam_groups", opt="SparseAdam", kwargs={"lr": 0.02, "eps": 1e-6},
         groups=[([0, 2], {"lr": 0.01, "betas": (0.8, 0.99)}), ([1], {"eps": 1e-4, "betas": (0.5, 0.9)})],
         late=[1], lr_sched={3: [0.01, 0.005], 6: [0.005, 0.002]}, steps=8, zero_frac=0.5,
         all_zero={3: [1]}),
    dict(name="sparse_adam_maximize", opt="SparseAdam",
         kwargs={"lr": 0.05, "betas": (0.5, 0.9), "maximize": True},
         groups=G_LR_WD(0.02, 0.0)[:1] + [([1], {"maximize": False})],
         late=[0], lr_sched={3: [0.01, 0.03]}, steps=7, zero_frac=0.2, neg_zero_frac=0.2,
         all_zero={5: [0, 1]}),
    # betas (0, 0): m and v are the present entries' g and g*g, no bias correction.
    dict(name="sparse_adam_betas_zero", opt="SparseAdam",
         kwargs={"lr": 0.01, "betas": (0.0, 0.0), "eps": 1e-3},
         groups=None, late=[], lr_sched={2: [0.02]}, steps=6, zero_frac=0.4),
]

# torch.optim classes without a fused CPU kernel: f32 runs the default dispatch, f64 runs under
# torch.set_default_dtype(torch.float64) (see the module docstring).
SCALAR_STATE_OPTS = {"RAdam", "NAdam", "ASGD", "Rprop"}


TORCH_OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "SparseAdam")


def torch_class(opt):
    if opt in TORCH_OPTIMIZERS or opt in SCALAR_STATE_OPTS:
        return getattr(torch.optim, opt)
    if opt == "Lion":
        return lion_pytorch.Lion
    raise KeyError(opt)


# The optimizers with a fused CPU kernel (OPTIMIZERS.md §0.1); their f32 cases use it.
FUSED_KERNEL = {"SGD": "torch._fused_sgd_", "Adam": "torch._fused_adam_", "AdamW": "torch._fused_adamw_",
                "Adagrad": "torch._fused_adagrad_"}


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def make_data(spec):
    """Initial params and gradients (float64 numpy); None = no gradient."""
    seed = zlib.crc32(spec["name"].encode())
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(int(np.prod(s))) for s in SHAPES]
    scale = spec.get("grad_scale", [1.0] * len(SHAPES))
    grads = []
    for step in range(spec.get("steps", N_STEPS)):
        row = []
        for i, s in enumerate(SHAPES):
            g = rng.standard_normal(int(np.prod(s))) * scale[i]
            if "grad_shift" in spec:
                g = g + spec["grad_shift"][i]
            if "zero_frac" in spec:
                g[rng.random(g.shape) < spec["zero_frac"]] = 0.0
            if "neg_zero_frac" in spec:
                g[rng.random(g.shape) < spec["neg_zero_frac"]] = -0.0
            if i in spec.get("all_zero", {}).get(step, []):
                g = np.where(rng.random(g.shape) < 0.5, 0.0, -0.0)
            if step == 0 and spec.get("zero_grad0") and i == 0:
                g[0] = 0.0
            if (step == 0 and i in spec["late"]) or (step == 2 and i == 1):
                g = None
            row.append(g)
        grads.append(row)
    return params, grads


# --------------------------------------------------------------------------
# Running the reference
# --------------------------------------------------------------------------

def run_reference(spec, kwargs, params_np, grads_np, dtype, default_dtype=None):
    """Run the Python optimizer; returns ([params per step], initial torch params, grads as torch).

    `default_dtype`: torch's default dtype during the run (and so `_get_scalar_dtype()`)."""
    if default_dtype is not None:
        saved = torch.get_default_dtype()
        torch.set_default_dtype(default_dtype)
        try:
            return run_reference(spec, kwargs, params_np, grads_np, dtype)
        finally:
            torch.set_default_dtype(saved)
    ps = [torch.tensor(p, dtype=torch.float64).to(dtype).reshape(s) for p, s in zip(params_np, SHAPES)]
    init = [p.clone() for p in ps]
    grads = [[None if g is None else torch.tensor(g, dtype=torch.float64).to(dtype).reshape(s)
              for g, s in zip(row, SHAPES)] for row in grads_np]
    if spec["groups"] is None:
        target = ps
    else:
        target = [dict({"params": [ps[i] for i in idx]}, **ov) for idx, ov in spec["groups"]]
    opt = torch_class(spec["opt"])(target, **kwargs)
    out = []
    for step in range(len(grads)):
        if step in spec["lr_sched"]:
            lrs = spec["lr_sched"][step]
            assert len(lrs) == len(opt.param_groups)
            for g, v in zip(opt.param_groups, lrs):
                g["lr"] = v
        for p, g in zip(ps, grads[step]):
            p.grad = None if g is None else g.clone()
            if spec["opt"] == "SparseAdam" and g is not None:
                p.grad = p.grad.to_sparse()  # exact zeros (+0, -0) are absent
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
            "params": [{"shape": list(s), "data": jvec(p)} for s, p in zip(SHAPES, init)]}
    if spec["groups"] is not None:
        case["param_groups"] = [dict({"params": list(idx)}, **{k: jcfg(v) for k, v in ov.items()})
                                for idx, ov in spec["groups"]]
    steps = []
    for step in range(len(grads)):
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
    cls = f"{'lion_pytorch' if opt == 'Lion' else 'torch.optim'}.{opt}"
    kwargs = dict(spec["kwargs"])
    sanity_default = None
    if opt == "Lion":
        ref = (f"lion-pytorch {LION_VERSION} {cls} (its only CPU path: per-parameter loop "
               f"lion_pytorch.lion_pytorch.update_fn), torch {TORCH_VERSION}, {CAP_NOTE}")
        steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype)
    elif opt == "SparseAdam":
        # Its only path (no foreach/fused keyword); `step` is a Python int whatever the default
        # dtype; the gradient is dense.to_sparse().
        ref = (f"torch {TORCH_VERSION} {cls} (its only path, torch/optim/_functional.py "
               f"sparse_adam; p.grad = g.to_sparse(): exact zeros are absent), {CAP_NOTE}")
        steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype)
    elif opt in SCALAR_STATE_OPTS and dtype_name == "f64":
        kwargs["foreach"] = False
        steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype, torch.float64)
        f32_scalars, _, _ = run_reference(spec, kwargs, params_np, grads_np, dtype, torch.float32)
        effect = max_rel(f32_scalars, steps)
        ref = (f"torch {TORCH_VERSION} {cls} (single-tensor path, foreach=False), "
               f"torch.set_default_dtype(torch.float64): step and the per-tensor scalars are float64 "
               f"0-dim tensors (with the float32 default they are float32, and the parameters "
               f"differ by up to {effect:.1e} relative), {CAP_NOTE}")
        sanity_default = torch.float64
    elif opt in SCALAR_STATE_OPTS:
        steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype)
        single, _, _ = run_reference(spec, dict(kwargs, foreach=False), params_np, grads_np, dtype)
        same = all(torch.equal(a, b) for x, y in zip(steps, single) for a, b in zip(x, y))
        if not same:
            raise SystemExit(f"{spec['name']}: default dispatch differs from foreach=False on CPU")
        ref = (f"torch {TORCH_VERSION} {cls} (default dispatch, no foreach/fused keyword: the "
               f"single-tensor path on CPU, bitwise equal to foreach=False; float32 default dtype, "
               f"so step and the per-tensor scalars are float32 0-dim tensors), {CAP_NOTE}")
        sanity_default = torch.float64
    elif dtype_name == "f64":
        kwargs["foreach"] = False
        ref = f"torch {TORCH_VERSION} {cls} (single-tensor path, foreach=False), {CAP_NOTE}"
        steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype)
    elif opt not in FUSED_KERNEL:
        # No fused kernel: the default path, which on CPU is the single-tensor one
        # (foreach=None -> _default_to_fused_or_foreach -> False for CPU tensors).
        ref = (f"torch {TORCH_VERSION} {cls} (default path: foreach=None, single-tensor on CPU; "
               f"no fused kernel exists), {CAP_NOTE}")
        steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype)
    else:
        fk = dict(kwargs, fused=True)
        try:
            steps, init, grads = run_reference(spec, fk, params_np, grads_np, dtype)
            kwargs = fk
            kernel = FUSED_KERNEL[opt]
            if opt == "Adam" and kwargs.get("decoupled_weight_decay"):
                kernel = FUSED_KERNEL["AdamW"]  # adam.py: _fused_adamw_ if decoupled_weight_decay
            ref = (f"torch {TORCH_VERSION} {cls} (fused CPU kernel {kernel}, fused=True), "
                   f"{CAP_NOTE}")
        except (RuntimeError, TypeError, ValueError) as e:
            kwargs["foreach"] = False
            msg = f"{type(e).__name__}: {e}".replace("\n", " ")
            ref = (f"torch {TORCH_VERSION} {cls} (single-tensor path, foreach=False; fused=True cannot run "
                   f"this case on CPU: it raises {msg}), {CAP_NOTE}")
            steps, init, grads = run_reference(spec, kwargs, params_np, grads_np, dtype)

    # Sanity check: the same case (same f32-rounded inputs) in float64 through the
    # single-tensor path must agree closely; catches a silently wrong code path.
    sanity_kwargs = {k: v for k, v in kwargs.items() if k != "fused"}
    if opt not in ("Lion", "SparseAdam"):
        sanity_kwargs["foreach"] = False
    init_np = [p.to(torch.float64).reshape(-1).numpy() for p in init]
    grads64 = [[None if g is None else g.to(torch.float64).reshape(-1).numpy() for g in row] for row in grads]
    ref64, _, _ = run_reference(spec, sanity_kwargs, init_np, grads64, torch.float64, sanity_default)
    dev = max_rel(steps, ref64)

    case = build_case(spec, kwargs, dtype_name, init, grads)
    expected = {"steps": [{"params": [jvec(p) for p in snap]} for snap in steps]}
    obj = {"reference": ref, "case": case, "expected": expected}
    return obj, dev


# --------------------------------------------------------------------------
# Error cases
# --------------------------------------------------------------------------

ERROR_SPECS = [
    # name, optimizer name, kwargs, error_key
    ("sgd_negative_lr", "SGD", {"lr": -0.1}, "lr"),
    ("adam_negative_lr", "Adam", {"lr": -0.001}, "lr"),
    ("adamw_negative_lr", "AdamW", {"lr": -0.001}, "lr"),
    ("sgd_negative_momentum", "SGD", {"lr": 0.1, "momentum": -0.9}, "momentum"),
    ("sgd_negative_weight_decay", "SGD", {"lr": 0.1, "weight_decay": -0.01}, "weight_decay"),
    ("adam_negative_weight_decay", "Adam", {"lr": 0.001, "weight_decay": -0.01}, "weight_decay"),
    ("adamw_negative_weight_decay", "AdamW", {"lr": 0.001, "weight_decay": -0.01}, "weight_decay"),
    ("sgd_nesterov_zero_momentum", "SGD", {"lr": 0.1, "momentum": 0.0, "nesterov": True}, "nesterov"),
    ("sgd_nesterov_dampening", "SGD",
     {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "nesterov"),
    ("adam_negative_eps", "Adam", {"lr": 0.001, "eps": -1e-8}, "eps"),
    ("adamw_negative_eps", "AdamW", {"lr": 0.001, "eps": -1e-8}, "eps"),
    ("adam_beta1_one", "Adam", {"lr": 0.001, "betas": (1.0, 0.999)}, "betas[0]"),
    ("adam_beta2_negative", "Adam", {"lr": 0.001, "betas": (0.9, -0.1)}, "betas[1]"),
    ("adamw_beta1_one", "AdamW", {"lr": 0.001, "betas": (1.0, 0.999)}, "betas[0]"),
    ("lion_zero_lr", "Lion", {"lr": 0.0}, "lr"),
    ("lion_negative_lr", "Lion", {"lr": -1e-4}, "lr"),
    ("lion_beta1_1p5", "Lion", {"lr": 1e-4, "betas": (1.5, 0.99)}, "betas[0]"),
    ("lion_beta2_negative", "Lion", {"lr": 1e-4, "betas": (0.9, -0.1)}, "betas[1]"),
    ("rmsprop_negative_lr", "RMSprop", {"lr": -0.01}, "lr"),
    ("rmsprop_negative_eps", "RMSprop", {"lr": 0.01, "eps": -1e-8}, "eps"),
    ("rmsprop_negative_momentum", "RMSprop", {"lr": 0.01, "momentum": -0.9}, "momentum"),
    ("rmsprop_negative_weight_decay", "RMSprop", {"lr": 0.01, "weight_decay": -0.01}, "weight_decay"),
    ("rmsprop_negative_alpha", "RMSprop", {"lr": 0.01, "alpha": -0.5}, "alpha"),
    ("rmsprop_nan_alpha", "RMSprop", {"lr": 0.01, "alpha": float("nan")}, "alpha"),
    ("rmsprop_unknown_key_fused", "RMSprop", {"lr": 0.01, "fused": True}, "fused"),
    ("rmsprop_unknown_key_betas", "RMSprop", {"lr": 0.01, "betas": (0.9, 0.99)}, "betas"),
    ("adagrad_negative_lr", "Adagrad", {"lr": -0.01}, "lr"),
    ("adagrad_negative_lr_decay", "Adagrad", {"lr": 0.01, "lr_decay": -0.1}, "lr_decay"),
    ("adagrad_negative_weight_decay", "Adagrad", {"lr": 0.01, "weight_decay": -0.01}, "weight_decay"),
    ("adagrad_negative_initial_accumulator_value", "Adagrad",
     {"lr": 0.01, "initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    ("adagrad_negative_eps", "Adagrad", {"lr": 0.01, "eps": -1e-10}, "eps"),
    ("sgd_fused_differentiable", "SGD", {"lr": 0.1, "fused": True, "differentiable": True}, "fused"),
    ("sgd_fused_foreach", "SGD", {"lr": 0.1, "fused": True, "foreach": True}, "fused"),
    ("adam_fused_differentiable", "Adam", {"lr": 0.001, "fused": True, "differentiable": True}, "fused"),
    ("adamw_fused_foreach", "AdamW", {"lr": 0.001, "fused": True, "foreach": True}, "fused"),
    ("adagrad_fused_differentiable", "Adagrad", {"lr": 0.01, "fused": True, "differentiable": True}, "fused"),
    ("adagrad_fused_foreach", "Adagrad", {"lr": 0.01, "fused": True, "foreach": True}, "fused"),
    ("adagrad_unknown_key_capturable", "Adagrad", {"lr": 0.01, "capturable": True}, "capturable"),
    ("adagrad_unknown_key_momentum", "Adagrad", {"lr": 0.01, "momentum": 0.9}, "momentum"),
    ("adadelta_negative_lr", "Adadelta", {"lr": -1.0}, "lr"),
    ("adadelta_rho_above_one", "Adadelta", {"lr": 1.0, "rho": 1.1}, "rho"),
    ("adadelta_negative_rho", "Adadelta", {"lr": 1.0, "rho": -0.1}, "rho"),
    ("adadelta_negative_eps", "Adadelta", {"lr": 1.0, "eps": -1e-6}, "eps"),
    ("adadelta_negative_weight_decay", "Adadelta", {"lr": 1.0, "weight_decay": -0.01}, "weight_decay"),
    ("adadelta_unknown_key_fused", "Adadelta", {"lr": 1.0, "fused": True}, "fused"),
    ("adadelta_unknown_key_betas", "Adadelta", {"lr": 1.0, "betas": (0.9, 0.999)}, "betas"),
    ("adamax_negative_lr", "Adamax", {"lr": -0.002}, "lr"),
    ("adamax_negative_eps", "Adamax", {"lr": 0.002, "eps": -1e-8}, "eps"),
    ("adamax_beta1_one", "Adamax", {"lr": 0.002, "betas": (1.0, 0.999)}, "betas[0]"),
    ("adamax_beta1_negative", "Adamax", {"lr": 0.002, "betas": (-0.1, 0.999)}, "betas[0]"),
    ("adamax_beta2_one", "Adamax", {"lr": 0.002, "betas": (0.9, 1.0)}, "betas[1]"),
    ("adamax_negative_weight_decay", "Adamax", {"lr": 0.002, "weight_decay": -0.01}, "weight_decay"),
    ("adamax_unknown_key_amsgrad", "Adamax", {"lr": 0.002, "amsgrad": True}, "amsgrad"),
    ("adamax_unknown_key_fused", "Adamax", {"lr": 0.002, "fused": True}, "fused"),
    ("sgd_unknown_key_momentom", "SGD", {"lr": 0.1, "momentom": 0.9}, "momentom"),
    ("adamw_decoupled_weight_decay", "AdamW",
     {"lr": 0.001, "decoupled_weight_decay": True}, "decoupled_weight_decay"),
    ("lion_unknown_key_maximize", "Lion", {"lr": 1e-4, "maximize": True}, "maximize"),
    ("adam_unknown_key_nesterov", "Adam", {"lr": 0.001, "nesterov": True}, "nesterov"),
    ("radam_negative_lr", "RAdam", {"lr": -0.001}, "lr"),
    ("radam_negative_eps", "RAdam", {"eps": -1e-8}, "eps"),
    ("radam_beta1_one", "RAdam", {"betas": (1.0, 0.999)}, "betas[0]"),
    ("radam_beta2_negative", "RAdam", {"betas": (0.9, -0.1)}, "betas[1]"),
    ("radam_negative_weight_decay", "RAdam", {"weight_decay": -0.01}, "weight_decay"),
    ("radam_unknown_key_amsgrad", "RAdam", {"amsgrad": True}, "amsgrad"),
    ("radam_unknown_key_fused", "RAdam", {"fused": True}, "fused"),
    ("nadam_negative_lr", "NAdam", {"lr": -0.002}, "lr"),
    ("nadam_negative_eps", "NAdam", {"eps": -1e-8}, "eps"),
    ("nadam_beta1_one", "NAdam", {"betas": (1.0, 0.999)}, "betas[0]"),
    ("nadam_beta2_one", "NAdam", {"betas": (0.9, 1.0)}, "betas[1]"),
    ("nadam_negative_weight_decay", "NAdam", {"weight_decay": -0.01}, "weight_decay"),
    ("nadam_negative_momentum_decay", "NAdam", {"momentum_decay": -0.004}, "momentum_decay"),
    ("nadam_unknown_key_amsgrad", "NAdam", {"amsgrad": True}, "amsgrad"),
    ("nadam_unknown_key_fused", "NAdam", {"fused": True}, "fused"),
    ("asgd_negative_lr", "ASGD", {"lr": -0.01}, "lr"),
    ("asgd_negative_lambd", "ASGD", {"lambd": -1e-4}, "lambd"),
    ("asgd_negative_alpha", "ASGD", {"alpha": -0.75}, "alpha"),
    ("asgd_negative_weight_decay", "ASGD", {"weight_decay": -0.01}, "weight_decay"),
    ("asgd_unknown_key_momentum", "ASGD", {"momentum": 0.9}, "momentum"),
    ("asgd_unknown_key_fused", "ASGD", {"fused": True}, "fused"),
    ("rprop_negative_lr", "Rprop", {"lr": -0.01}, "lr"),
    ("rprop_etaminus_zero", "Rprop", {"etas": (0.0, 1.2)}, "etas[0]"),
    ("rprop_etaminus_one", "Rprop", {"etas": (1.0, 1.2)}, "etas[0]"),
    ("rprop_etaplus_one", "Rprop", {"etas": (0.5, 1.0)}, "etas[1]"),
    ("rprop_etaplus_below_one", "Rprop", {"etas": (0.5, 0.9)}, "etas[1]"),
    ("rprop_unknown_key_weight_decay", "Rprop", {"weight_decay": 0.01}, "weight_decay"),
    ("rprop_unknown_key_fused", "Rprop", {"fused": True}, "fused"),
    # Accepted by the constructors, refused by the foreach path at the first step.
    ("radam_foreach_differentiable", "RAdam", {"foreach": True, "differentiable": True}, "foreach"),
    ("nadam_foreach_differentiable", "NAdam", {"foreach": True, "differentiable": True}, "foreach"),
    ("asgd_foreach_differentiable", "ASGD", {"foreach": True, "differentiable": True}, "foreach"),
    ("rprop_foreach_differentiable", "Rprop", {"foreach": True, "differentiable": True}, "foreach"),
    ("sparse_adam_zero_lr", "SparseAdam", {"lr": 0.0}, "lr"),
    ("sparse_adam_negative_lr", "SparseAdam", {"lr": -0.001}, "lr"),
    ("sparse_adam_zero_eps", "SparseAdam", {"eps": 0.0}, "eps"),
    ("sparse_adam_negative_eps", "SparseAdam", {"eps": -1e-8}, "eps"),
    ("sparse_adam_beta1_one", "SparseAdam", {"betas": (1.0, 0.999)}, "betas[0]"),
    ("sparse_adam_beta1_negative", "SparseAdam", {"betas": (-0.1, 0.999)}, "betas[0]"),
    ("sparse_adam_beta2_one", "SparseAdam", {"betas": (0.9, 1.0)}, "betas[1]"),
    ("sparse_adam_unknown_key_weight_decay", "SparseAdam", {"weight_decay": 0.01}, "weight_decay"),
    ("sparse_adam_unknown_key_foreach", "SparseAdam", {"foreach": False}, "foreach"),
    ("sparse_adam_unknown_key_amsgrad", "SparseAdam", {"amsgrad": True}, "amsgrad"),
]


def generate_error(name, opt, kwargs, key):
    """The case, if the reference rejects it: in the constructor, or at the case's first step."""
    p = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    cls = f"{'lion_pytorch' if opt == 'Lion' else 'torch.optim'}.{opt}"
    lib = f"lion-pytorch {LION_VERSION}" if opt == "Lion" else f"torch {TORCH_VERSION}"
    when = ""
    try:
        o = torch_class(opt)([p], **kwargs)
        when = " at the first step"
        p.grad = torch.tensor([0.25, -0.5, 1.0], dtype=torch.float64)
        if opt == "SparseAdam":
            p.grad = p.grad.to_sparse()
        o.step()
    except (ValueError, AssertionError, TypeError, RuntimeError) as e:
        msg = str(e).replace("\n", " ").strip()
        ref = (f"{lib} {cls}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) raises "
               f"{type(e).__name__}{when}")
        if msg:
            ref += f": {msg}"
    else:
        return None
    case = {"optimizer": dict({"name": opt}, **{k: jcfg(v) for k, v in kwargs.items()}),
            "dtype": "f64",
            "params": [{"shape": [3], "data": [0.5, -1.0, 2.0]}],
            "steps": [{"grads": [[0.25, -0.5, 1.0]]}]}
    return {"reference": ref, "error_key": key, "case": case}


# --------------------------------------------------------------------------

def main():
    for pkg, want in EXPECTED_VERSIONS.items():
        have = TORCH_VERSION if pkg == "torch" else LION_VERSION
        if have != want:
            print(f"warning: {pkg} {have} installed, goldens are specified for {want}", file=sys.stderr)
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() != CPU_CAP.lower():
        print(f"warning: ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY')} requested, "
              f"torch runs {CPU_CAP}", file=sys.stderr)

    written = set()
    for spec in SPECS:
        for dtype_name in ("f64", "f32"):
            obj, dev = generate_case(spec, dtype_name)
            fname = f"{spec['name']}_{dtype_name}.json"
            limit = 1e-3 if dtype_name == "f32" else 1e-12
            if dev > limit and spec["opt"] != "Lion" and not spec.get("f32_diverges"):
                raise SystemExit(f"{fname}: reference deviates from float64 single-tensor run by {dev:.3e}")
            write_json(OUT / fname, obj)
            written.add(OUT / fname)
            size = (OUT / fname).stat().st_size
            path = obj["reference"].split("(")[1].split(")")[0].split(";")[0]
            print(f"{fname:45s} {size:6d} B  rel.dev vs f64 single-tensor {dev:.2e}  [{path}]")

    for name, opt, kwargs, key in ERROR_SPECS:
        obj = generate_error(name, opt, kwargs, key)
        if obj is None:
            print(f"errors/{name}.json: NOT written ({opt}({kwargs}) does not raise)")
            continue
        write_json(OUT_ERR / f"{name}.json", obj)
        written.add(OUT_ERR / f"{name}.json")
        print(f"errors/{name + '.json':38s} {obj['reference']}")

    stale = [p for d in (OUT, OUT_ERR) for p in sorted(d.glob("*.json")) if p not in written]
    for p in stale:
        print(f"warning: {p.relative_to(REPO)} was not produced by this run (left untouched)", file=sys.stderr)
    print(f"{len([p for p in written if p.parent == OUT])} golden cases, "
          f"{len([p for p in written if p.parent == OUT_ERR])} error cases, {CAP_NOTE}")


if __name__ == "__main__":
    main()
