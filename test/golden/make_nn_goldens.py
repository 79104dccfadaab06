#!/usr/bin/env python3
"""Writes PyTorch reference values for the nn modules into nn_goldens.json.

Run by hand with Debian's python3-torch (1.13):  /usr/bin/python3 test/golden/make_nn_goldens.py
Parameters, inputs and upstream gradients are multiples of 1/256 (stored as integers, so both sides see the
exact same float32 values while the file stays small); outputs and gradients are computed in float64 and
stored with 6 significant digits. The jest tests load the state dicts with loadStateDict and need no Python.
"""
import json
import os

import torch
import torch.nn as nn

from safetensors_writer import write_safetensors

SCALE = 256
torch.manual_seed(2024)


def quantize(t):
    """Rounds to a multiple of 1/SCALE (exactly representable in float32)."""
    return torch.round(t.detach().double() * SCALE) / SCALE


def pack_quantized(t):
    return {"shape": list(t.shape), "q": [int(v) for v in torch.round(t * SCALE).reshape(-1).tolist()]}


def pack(t):
    return {"shape": list(t.shape), "data": [float("%.6g" % v) for v in t.detach().reshape(-1).tolist()]}


def pack_bool(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}


def prepare(module):
    """Perturbs every 1-D parameter (zero biases, unit LayerNorm weights) so it is tested, then quantizes all of
    them; returns the quantized state dict, the module in float64 and eval mode."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape) * 0.1)
            p.copy_(quantize(p))
    module = module.double().eval()
    return {name: pack_quantized(p) for name, p in module.state_dict().items()}, module


def grads_of(module):
    return {name: pack(p.grad) for name, p in module.named_parameters()}


def transformer_case(config, safetensors_path=None):
    """With safetensors_path, the torch state_dict is also saved there as float32 safetensors, exactly as torch
    holds it: the test loads that file unchanged."""
    model = nn.Transformer(d_model=16, nhead=4, dim_feedforward=32, dropout=0.0, batch_first=True, **config)
    state, model = prepare(model)
    if safetensors_path is not None:
        named = [(name, p.float(), "F32") for name, p in model.state_dict().items()]
        write_safetensors(safetensors_path, named, {"format": "pt"})
    B, S, T = 2, 5, 4
    src = quantize(torch.randn(B, S, 16))
    tgt = quantize(torch.randn(B, T, 16))
    upstream = quantize(torch.randn(B, T, 16))
    # Right padding only, so no query row ever has all of its keys masked.
    src_padding = torch.tensor([[0, 0, 0, 0, 1], [0, 0, 0, 1, 1]], dtype=torch.bool)
    tgt_padding = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 1]], dtype=torch.bool)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(T).double()
    memory_mask = torch.zeros(T, S, dtype=torch.bool)
    memory_mask[0, 1] = memory_mask[1, 0] = memory_mask[2, 2] = memory_mask[3, 0] = memory_mask[3, 4] = True
    out = model(src, tgt, tgt_mask=tgt_mask, memory_mask=memory_mask, src_key_padding_mask=src_padding,
                tgt_key_padding_mask=tgt_padding, memory_key_padding_mask=src_padding)
    (out * upstream).sum().backward()
    return {
        "config": {"dModel": 16, "nhead": 4, "dimFeedforward": 32, "dropout": 0.0,
                   "numEncoderLayers": config["num_encoder_layers"], "numDecoderLayers": config["num_decoder_layers"],
                   "normFirst": config.get("norm_first", False), "activation": config.get("activation", "relu")},
        "state": state,
        "inputs": {"src": pack_quantized(src), "tgt": pack_quantized(tgt), "upstream": pack_quantized(upstream)},
        "masks": {"srcKeyPaddingMask": pack_bool(src_padding), "tgtKeyPaddingMask": pack_bool(tgt_padding),
                  "tgtCausal": pack_bool(torch.isinf(tgt_mask)), "memoryMask": pack_bool(memory_mask)},
        "output": pack(out),
        "grads": grads_of(model),
    }


def mha_case(kdim, vdim, self_attention, average):
    E, H, B, L, S = 16, 4, 2, 3, 5
    mha = nn.MultiheadAttention(E, H, dropout=0.0, kdim=kdim, vdim=vdim, batch_first=True)
    state, mha = prepare(mha)
    query = quantize(torch.randn(B, L, E)).requires_grad_(True)
    if self_attention:
        key = value = query
        S = L
        # bool [B * H, L, L] mask: True = not allowed (the diagonal always stays allowed).
        attn_mask = torch.rand(B * H, L, L) < 0.3
        attn_mask &= ~torch.eye(L, dtype=torch.bool)
        padding = torch.zeros(B, L, dtype=torch.bool)
        masks = {"attnMask": pack_bool(attn_mask)}
    else:
        key = quantize(torch.randn(B, S, kdim)).requires_grad_(True)
        value = quantize(torch.randn(B, S, vdim)).requires_grad_(True)
        attn_mask = quantize(torch.randn(L, S))
        padding = torch.tensor([[0, 0, 0, 0, 1], [0, 0, 1, 1, 1]], dtype=torch.bool)
        masks = {"attnMaskFloat": pack_quantized(attn_mask), "keyPaddingMask": pack_bool(padding)}
    upstream = quantize(torch.randn(B, L, E))
    out, weights = mha(query, key, value, key_padding_mask=padding, attn_mask=attn_mask, need_weights=True,
                       average_attn_weights=average)
    (out * upstream).sum().backward()
    inputs = {"query": pack_quantized(query.detach()), "upstream": pack_quantized(upstream)}
    input_grads = {"query": pack(query.grad)}
    if not self_attention:
        inputs.update(key=pack_quantized(key.detach()), value=pack_quantized(value.detach()))
        input_grads.update(key=pack(key.grad), value=pack(value.grad))
    return {
        "config": {"embedDim": E, "numHeads": H, "kdim": kdim, "vdim": vdim, "averageAttnWeights": average},
        "state": state,
        "inputs": inputs,
        "masks": masks,
        "output": pack(out),
        "weights": pack(weights),
        "grads": grads_of(mha),
        "inputGrads": input_grads,
    }


cases = {
    "transformer": transformer_case({"num_encoder_layers": 2, "num_decoder_layers": 2},
                                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "transformer.safetensors")),
    # One layer each keeps the file small; the pre-LN and GELU paths are the same in every layer.
    "transformerNormFirstGelu": transformer_case(
        {"num_encoder_layers": 1, "num_decoder_layers": 1, "norm_first": True, "activation": "gelu"}),
    "mhaKdimVdim": mha_case(12, 8, False, True),
    "mhaSelfPerHead": mha_case(16, 16, True, False),
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_goldens.json")
with open(path + ".tmp", "w") as f:
    json.dump({"torch": torch.__version__, "scale": SCALE, "cases": cases}, f, separators=(",", ":"))
    f.flush()
    os.fsync(f.fileno())
os.replace(path + ".tmp", path)
print(f"wrote {len(cases)} cases to {path} ({os.path.getsize(path)} bytes)")
