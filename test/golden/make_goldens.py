#!/usr/bin/env python3
"""Writes PyTorch reference values (float64 math on float32 inputs) for the functional ops into goldens.json.

Run by hand with Debian's python3-torch (1.13):  /usr/bin/python3 test/golden/make_goldens.py
The jest tests read the JSON and need no Python. Each case stores inputs, the forward output, an upstream
gradient and the input gradients, all as flat float lists with shapes.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
cases = {}


def pack(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [round(float(v), 8) for v in t.reshape(-1).tolist()]}


def case(name, inputs, fn, extra=None):
    """inputs: dict of float tensors (requires_grad set here) and int tensors; fn(**inputs) -> output.
    Inputs are float32 values; the reference is computed in float64 so that it measures our float32 error,
    not PyTorch's."""
    inputs = {k: (v.float() if v.is_floating_point() else v) for k, v in inputs.items()}
    leaves = {k: (v.double().requires_grad_(True) if v.is_floating_point() else v) for k, v in inputs.items()}
    out = fn(**leaves)
    upstream = torch.randn(out.shape).float().double()
    (out * upstream).sum().backward()
    cases[name] = {
        "inputs": {k: pack(v) for k, v in inputs.items()},
        "output": pack(out),
        "upstream": pack(upstream),
        "grads": {k: pack(v.grad) for k, v in leaves.items() if v.is_floating_point() and v.grad is not None},
        **(extra or {}),
    }


# linear
case("linear", {"x": torch.randn(3, 7, 5), "weight": torch.randn(4, 5), "bias": torch.randn(4)},
     lambda x, weight, bias: F.linear(x, weight, bias))

# layer norm over the last dim and over the last two dims
case("layerNorm", {"x": torch.randn(4, 7) * 3 + 1, "weight": torch.randn(7), "bias": torch.randn(7)},
     lambda x, weight, bias: F.layer_norm(x, (7,), weight, bias, 1e-5))
case("layerNorm2d", {"x": torch.randn(2, 3, 5), "weight": torch.randn(3, 5), "bias": torch.randn(3, 5)},
     lambda x, weight, bias: F.layer_norm(x, (3, 5), weight, bias, 1e-5))

# softmax / log-softmax along the last and a middle dim
case("softmaxLast", {"x": torch.randn(3, 33) * 4}, lambda x: F.softmax(x, dim=-1))
case("softmaxMiddle", {"x": torch.randn(2, 5, 3)}, lambda x: F.softmax(x, dim=1))
case("logSoftmax", {"x": torch.randn(4, 9) * 4}, lambda x: F.log_softmax(x, dim=-1))

# cross-entropy with label smoothing and ignored rows, mean reduction; and per-row (none)
targets = torch.tensor([0, 3, -100, 4, 1, -100, 2], dtype=torch.int64)
case("crossEntropy", {"logits": torch.randn(7, 5) * 2, "targets": targets.to(torch.int32)},
     lambda logits, targets: F.cross_entropy(logits, targets.long(), ignore_index=-100, label_smoothing=0.1),
     {"options": {"ignoreIndex": -100, "labelSmoothing": 0.1, "reduction": "mean"}})
case("crossEntropyNone", {"logits": torch.randn(7, 5), "targets": targets.to(torch.int32)},
     lambda logits, targets: F.cross_entropy(logits, targets.long(), ignore_index=-100, reduction="none"),
     {"options": {"ignoreIndex": -100, "labelSmoothing": 0, "reduction": "none"}})

# GELU, exact and tanh
case("gelu", {"x": torch.randn(50) * 3}, lambda x: F.gelu(x))
case("geluTanh", {"x": torch.randn(50) * 3}, lambda x: F.gelu(x, approximate="tanh"))


# scaled-dot-product attention written out (torch 1.13 has no fused CPU kernel): softmax(QK^T s + mask) V
def attention(q, k, v, causal=False, key_padding=None, attn_mask=None):
    scale = 1 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1) * scale
    Tq, Tk = q.shape[-2], k.shape[-2]
    if causal:
        allowed = torch.ones(Tq, Tk, dtype=torch.bool).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if key_padding is not None:
        scores = scores.masked_fill(key_padding.bool()[:, None, None, :], float("-inf"))
    if attn_mask is not None:
        scores = scores + attn_mask
    return torch.softmax(scores, dim=-1) @ v


B, H, Tq, Tk, D = 2, 3, 5, 6, 4
case("attentionCausal", {"q": torch.randn(B, H, Tq, D), "k": torch.randn(B, H, Tk, D), "v": torch.randn(B, H, Tk, D)},
     lambda q, k, v: attention(q, k, v, causal=True), {"options": {"isCausal": True}})
padding = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1]], dtype=torch.int32)
case("attentionPadding",
     {"q": torch.randn(B, H, Tq, D), "k": torch.randn(B, H, Tk, D), "v": torch.randn(B, H, Tk, D), "keyPaddingMask": padding},
     lambda q, k, v, keyPaddingMask: attention(q, k, v, key_padding=keyPaddingMask))
case("attentionFloatMask",
     {"q": torch.randn(B, H, Tq, D), "k": torch.randn(B, H, Tk, D), "v": torch.randn(B, H, Tk, D), "attnMask": torch.randn(Tq, Tk)},
     lambda q, k, v, attnMask: attention(q, k, v, attn_mask=attnMask))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens.json")
with open(path + ".tmp", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
os.replace(path + ".tmp", path)
print(f"wrote {len(cases)} cases to {path}")
