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
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(2024)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


# ---- safetensors written by hand ----------------------------------------------------------------------------

def raw_bytes(t, dtype):
    if dtype == "BF16":
        return t.contiguous().view(torch.int16).numpy().tobytes()
    return t.contiguous().numpy().tobytes()


def write_safetensors(path, named, metadata):
    """named: list of (name, tensor, safetensors dtype). The data is laid out in the reverse order of the header
    names, which the format allows: offsets, not order, locate each tensor."""
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, t, dtype in reversed(named):
        data = raw_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


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
