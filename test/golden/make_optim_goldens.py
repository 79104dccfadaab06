#!/usr/bin/env python3
"""Writes PyTorch references for the optimizers, LR schedulers, gradient clipping and safetensors reading.

Run by hand with Debian's python3-torch (1.13):  /usr/bin/python3 test/golden/make_optim_goldens.py
Outputs (committed; the jest tests need no Python):
  optim.json              torch.optim trajectories over 5 steps, scheduler lr sequences, clip_grad_norm_ cases
  python.safetensors      a safetensors file written here by hand (the safetensors package is not installed),
  python.safetensors.json with every dtype the reader converts, and the values it must read back.
"""
import json
import math
import os

import torch

from safetensors_writer import write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(2024)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


# ---- safetensors written by hand ----------------------------------------------------------------------------

named = [
    ("f32", torch.randn(2, 3), "F32"),
    ("f64", torch.randn(4, dtype=torch.float64) * 1e3, "F64"),
    ("f16", (torch.randn(3, 2) * 10).half(), "F16"),
    ("bf16", (torch.randn(5) * 100).bfloat16(), "BF16"),
    ("i32", torch.tensor([[-5, 7], [2**31 - 1, -(2**31)]], dtype=torch.int32), "I32"),
    ("i64", torch.tensor([0, -3, 2**31 - 1, -(2**31)], dtype=torch.int64), "I64"),
    ("u8", torch.tensor([0, 1, 200, 255], dtype=torch.uint8), "U8"),
    ("i8", torch.tensor([-128, -1, 0, 127], dtype=torch.int8), "I8"),
    ("bool", torch.tensor([[True, False, True]]), "BOOL"),
    ("scalar", torch.tensor(3.5), "F32"),
    ("empty", torch.zeros(0, 4), "F32"),
]
write_safetensors(os.path.join(HERE, "python.safetensors"), named, {"format": "pt", "note": "written by hand"})
expected = {
    name: {
        "shape": list(t.shape),
        "dtype": "bool" if dtype == "BOOL" else ("int32" if dtype[0] in "IU" else "float32"),
        "data": [bool(v) for v in t.reshape(-1).tolist()] if dtype == "BOOL"
        else (t.reshape(-1).tolist() if dtype[0] in "IU" else flat(t.float())),
    }
    for name, t, dtype in named
}
with open(os.path.join(HERE, "python.safetensors.json"), "w") as f:
    json.dump({"metadata": {"format": "pt", "note": "written by hand"}, "tensors": expected}, f, indent=1)


# ---- optimizers: 5 steps of torch.optim on fixed parameters and gradients -----------------------------------

def pack(t):
    return {"shape": list(t.shape), "data": flat(t)}


SHAPES = [(3, 4), (5,)]
STEPS = 5
init_params = [torch.randn(*s) for s in SHAPES]
grad_steps = [[torch.randn(*s) for s in SHAPES] for _ in range(STEPS)]


def trajectory(make, groups=None, lr_change=None):
    """Runs STEPS steps; groups: list of (param indices, options) or None for one group of every parameter.
    lr_change: (step, group, factor) multiplies a group's lr before that step."""
    params = [p.clone().requires_grad_(True) for p in init_params]
    opt = make(params if groups is None else [dict(params=[params[i] for i in idx], **o) for idx, o in groups])
    after = []
    for k in range(STEPS):
        if lr_change is not None and lr_change[0] == k:
            opt.param_groups[lr_change[1]]["lr"] *= lr_change[2]
        for p, g in zip(params, grad_steps[k]):
            p.grad = g.clone()
        opt.step()
        after.append([pack(p) for p in params])
    return after


optim_cases = {
    "sgd": ("SGD", {"lr": 0.1}, None, None),
    "sgdMomentum": ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}, None, None),
    "sgdNesterov": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001}, None, None),
    "sgdMaximize": ("SGD", {"lr": 0.1, "momentum": 0.5, "maximize": True}, None, None),
    "sgdGroups": ("SGD", {"lr": 0.1, "momentum": 0.9},
                  [([0], {}), ([1], {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.1})], (3, 0, 0.5)),
    "adam": ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, None, None),
    "adamDefaults": ("Adam", {}, None, None),
    "adamAmsgrad": ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05}, None, None),
    "adamMaximize": ("Adam", {"lr": 0.01, "maximize": True}, None, None),
    "adamw": ("AdamW", {"lr": 0.01, "weight_decay": 0.1}, None, None),
    "adamwDefaults": ("AdamW", {}, None, None),
    "adamwAmsgrad": ("AdamW", {"lr": 0.02, "betas": (0.85, 0.95), "amsgrad": True, "weight_decay": 0.2}, None, None),
    "adamwGroups": ("AdamW", {"lr": 0.01, "weight_decay": 0.1},
                    [([1], {"weight_decay": 0.0}), ([0], {"lr": 0.03, "eps": 1e-4})], (2, 1, 0.1)),
}


def camel(key):
    head, *rest = key.split("_")
    return head + "".join(w.capitalize() for w in rest)


def js_options(o):
    return {camel(k): (list(v) if isinstance(v, tuple) else v) for k, v in o.items()}


optimizers = {}
for name, (cls, options, groups, lr_change) in optim_cases.items():
    make = lambda ps, cls=cls, options=options: getattr(torch.optim, cls)(ps, **options)
    optimizers[name] = {
        "optimizer": cls,
        "options": js_options(options),
        "groups": None if groups is None else [{"params": idx, "options": js_options(o)} for idx, o in groups],
        "lrChange": None if lr_change is None else {"beforeStep": lr_change[0], "group": lr_change[1], "factor": lr_change[2]},
        "after": trajectory(make, groups, lr_change),
    }


# ---- schedulers: lr sequences ---------------------------------------------------------------------------------

SCHED_STEPS = 25


def lr_sequence(base_lrs, make_scheduler):
    params = [torch.zeros(1, requires_grad=True) for _ in base_lrs]
    opt = torch.optim.SGD([dict(params=[p], lr=lr) for p, lr in zip(params, base_lrs)], lr=base_lrs[0])
    sched = make_scheduler(opt)
    lrs = [sched.get_last_lr()]
    for _ in range(SCHED_STEPS):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


def noam(d_model, warmup, factor):
    return lambda e: factor * d_model ** -0.5 * min((e + 1) ** -0.5, (e + 1) * warmup ** -1.5)


def warmup_cosine(base, warmup, total, min_lr):
    def f(e):
        if e < warmup:
            return e / warmup
        progress = min(1.0, (e - warmup) / (total - warmup))
        return (min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))) / base
    return f


LS = torch.optim.lr_scheduler
schedulers = {
    "stepLR": {"base": [0.1, 0.01], "options": {"stepSize": 3, "gamma": 0.5},
               "lrs": lr_sequence([0.1, 0.01], lambda o: LS.StepLR(o, step_size=3, gamma=0.5))},
    "stepLRDefaultGamma": {"base": [1.0], "options": {"stepSize": 7},
                           "lrs": lr_sequence([1.0], lambda o: LS.StepLR(o, step_size=7))},
    "lambdaLR": {"base": [0.1, 0.02],
                 "lrs": lr_sequence([0.1, 0.02], lambda o: LS.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e]))},
    "noam": {"base": [1.0], "options": {"dModel": 64, "warmupSteps": 10, "factor": 2.0},
             "lrs": lr_sequence([1.0], lambda o: LS.LambdaLR(o, noam(64, 10, 2.0)))},
    "warmupCosine": {"base": [0.1, 0.05], "options": {"warmupSteps": 5, "totalSteps": 20, "minLr": 0.001},
                     "lrs": lr_sequence([0.1, 0.05], lambda o: LS.LambdaLR(
                         o, [warmup_cosine(0.1, 5, 20, 0.001), warmup_cosine(0.05, 5, 20, 0.001)]))},
}


# ---- clip_grad_norm_ ------------------------------------------------------------------------------------------

def clip_case(max_norm, norm_type):
    grads = [torch.randn(4, 3) * 2, torch.randn(7), torch.randn(2, 2, 2) * 0.5]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads] + [torch.zeros(3, requires_grad=True)]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    return {"maxNorm": max_norm, "normType": "inf" if norm_type == math.inf else norm_type,
            "grads": [pack(g) for g in grads], "total": float(total), "clipped": [pack(p.grad) for p in params[:3]]}


clips = {"l2": clip_case(1.0, 2.0), "l1": clip_case(5.0, 1.0), "inf": clip_case(0.5, math.inf),
         "l3": clip_case(2.0, 3.0), "noClip": clip_case(1000.0, 2.0)}

with open(os.path.join(HERE, "optim.json"), "w") as f:
    json.dump({"init": [pack(p) for p in init_params], "grads": [[pack(g) for g in gs] for gs in grad_steps],
               "optimizers": optimizers, "schedulers": schedulers, "clipGradNorm": clips}, f)
