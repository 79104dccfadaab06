"""The safetensors format written by hand (the safetensors Python package is not installed here): an 8-byte
little-endian header length, the JSON header padded with spaces to a multiple of 8, then the data."""
import json
import struct

import torch


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
