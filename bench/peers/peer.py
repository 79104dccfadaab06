#!/usr/bin/env python3
"""The Python side of `npm run bench -- --compare`: rebuilds a row's work in numpy (GEMM, on OpenBLAS or on BLIS)
or PyTorch (attention, the memory-bound kernels, end-to-end models) and times it on request.

Protocol: one JSON object per line on stdin, one reply per line on stdout.
  {"op": "hello"}                                         -> {"ok": true, "name": "...", "isa": "...",
                                                               "capped": true | false | null, "capNote": "..."}
  {"op": "setup", "id": n, "spec": {...}, "threads": t}   -> {"ok": true, "name": "..."}
  {"op": "time", "id": n, "iters": k}                     -> {"ok": true, "ms": milliseconds per call}
  {"op": "free", "id": n}                                 -> {"ok": true}
  {"op": "maxrss"}                                        -> {"ok": true, "maxRssKiB": peak resident set so far}
Errors answer {"ok": false, "error": "..."}. argv[1] is the library: "numpy" (numpy on OpenBLAS), "blis" (numpy on
BLIS) or "torch". hello's "isa" is the kernel path the library reports it runs; "capped" says whether the caps in
the environment (OPENBLAS_CORETYPE, BLIS_ARCH_TYPE, ATEN_CPU_CAPABILITY) took effect, null when none is set.
"""
import json
import math
import os
import sys
import sysconfig
import time

LIBRARY = sys.argv[1] if len(sys.argv) > 1 else "numpy"


def blas_directory(flavours):
    """Debian installs OpenBLAS and BLIS beside the reference BLAS, each with its own libblas.so.3, and lets an
    alternative pick the system's; the directory of the first flavour installed, or None."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for flavour in flavours:
        directory = os.path.join("/usr/lib", multiarch, flavour)
        if os.path.exists(os.path.join(directory, "libblas.so.3")):
            return directory
    return None


OPENBLAS_FLAVOURS = ("openblas-pthread", "openblas-openmp")
BLIS_FLAVOURS = ("blis-pthread", "blis-openmp")


def blis_arch_number(directory, name):
    """BLIS 0.9 reads BLIS_ARCH_TYPE as the number of a sub-configuration in its own table (a name reads as 0,
    which is skx); the number of `name` there, from bli_arch_string of the libblis beside the libblas.so.3, or
    None. The table ends with generic."""
    import ctypes

    try:
        lib = ctypes.CDLL(os.path.join(directory, "libblis.so.4"))
        lib.bli_arch_string.restype = ctypes.c_char_p
        lib.bli_arch_string.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    for number in range(64):
        arch = lib.bli_arch_string(number)
        if arch is None:
            return None
        if arch.decode() == name:
            return number
        if arch == b"generic":
            return None
    return None


def prefer_blas():
    """Points the loader at OpenBLAS's libblas.so.3 (numpy, torch) or BLIS's (blis) for this process alone, leaving
    the system's alternative alone (the loader reads LD_LIBRARY_PATH only at start, hence the re-exec). For BLIS,
    a BLIS_ARCH_TYPE name becomes its number (BENCH_BLIS_ARCH keeps the name for hello's check), and
    BLIS_ARCH_DEBUG=1 makes it name the sub-configuration it selects."""
    if os.environ.get("BENCH_PEER_REEXEC") == "1":
        return
    directory = blas_directory(BLIS_FLAVOURS if LIBRARY == "blis" else OPENBLAS_FLAVOURS)
    if directory is None:
        return  # numpy and torch run on the system's BLAS; hello says so, and the blis peer reports it missing
    env = dict(os.environ, BENCH_PEER_REEXEC="1")
    env.pop("BENCH_BLIS_ARCH", None)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [directory, env.get("LD_LIBRARY_PATH")]))
    arch = env.get("BLIS_ARCH_TYPE")
    if LIBRARY == "blis":
        env["BLIS_ARCH_DEBUG"] = "1"
    if LIBRARY == "blis" and arch and not arch.isdigit():
        number = blis_arch_number(directory, arch)
        env["BENCH_BLIS_ARCH"] = arch
        if number is None:
            del env["BLIS_ARCH_TYPE"]  # unknown to this BLIS: it picks its own, and hello reports it uncapped
        else:
            env["BLIS_ARCH_TYPE"] = str(number)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def mapped_libraries():
    try:
        with open("/proc/self/maps") as maps:
            return {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return set()


def openblas_core():
    """(version, core name) of the OpenBLAS mapped into this process, or None."""
    import ctypes

    libraries = mapped_libraries()
    try:
        lib = ctypes.CDLL(next(lib for lib in libraries if "openblas" in lib and "libblas" in lib))
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        return lib.openblas_get_config().decode().split()[1], lib.openblas_get_corename().decode()
    except (OSError, StopIteration, AttributeError, IndexError):
        return None


def blis_arch():
    """(version, sub-configuration) of the BLIS that numpy runs on, or None when numpy does not run on BLIS. Its
    libblas.so.3 exports BLAS alone, so the sub-configuration comes from BLIS_ARCH_DEBUG=1, which makes BLIS name
    it on stderr as it starts (when numpy loads it, or at its first call); the version from the libblis beside
    it. Call before anything imports numpy."""
    import ctypes
    import re
    import tempfile

    with tempfile.TemporaryFile() as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            import numpy

            square = numpy.ones((64, 64), numpy.float32)
            numpy.matmul(square, square)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode(errors="replace")
    sys.stderr.write("".join(line for line in text.splitlines(True) if not line.startswith("libblis: selecting")))
    path = next((lib for lib in mapped_libraries() if "/blis" in lib and "libblas" in lib), None)
    if path is None:
        return None
    selected = re.search(r"sub-configuration '([^']+)'", text)
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(path), "libblis.so.4"))
        lib.bli_info_get_version_str.restype = ctypes.c_char_p
        version = lib.bli_info_get_version_str().decode()
    except (OSError, AttributeError):
        version = "?"
    return version, selected.group(1) if selected else "unknown"


def blas_description():
    """Which BLAS numpy really runs, from the libraries mapped into this process."""
    libraries = [lib for lib in mapped_libraries() if "blas" in lib]
    if not libraries:
        return "BLAS"
    core = openblas_core()
    if core:
        return f"OpenBLAS {core[0]} {core[1]}"
    return "OpenBLAS" if any("openblas" in lib for lib in libraries) else "reference BLAS"


def torch_capability():
    """The ATen kernels' CPU capability ('AVX2', 'AVX512', 'NO AVX' for default), as torch 1.13 reports it."""
    import torch

    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def cap_check(checks):
    """(capped, note) for a list of (variable, requested value, what the library runs, whether that matches)."""
    requested = [check for check in checks if check[1]]
    if not requested:
        return None, None
    missed = [f"{name}={value} but it runs {runs}" for name, value, runs, ok in requested if not ok]
    return (not missed), ("; ".join(missed) or None)


# ATEN_CPU_CAPABILITY's values and what torch.__config__.show() calls them.
ATEN_CAPABILITY_NAMES = {"default": ("NO AVX", "DEFAULT"), "avx2": ("AVX2",), "avx512": ("AVX512",)}


def openblas_check(core):
    requested = os.environ.get("OPENBLAS_CORETYPE")
    runs = core[1] if core else "no OpenBLAS"
    return ("OPENBLAS_CORETYPE", requested, runs, bool(core) and runs.lower() == (requested or "").lower())


# ---- numpy ------------------------------------------------------------------------------------------------------


def numpy_gemm(spec):
    import numpy as np

    rng = np.random.default_rng(11)
    batch, m, n, k = spec["batch"], spec["M"], spec["N"], spec["K"]

    def operand(rows, cols, trans):
        stored = rng.uniform(-1, 1, (batch, cols, rows) if trans else (batch, rows, cols)).astype(np.float32)
        view = stored.transpose(0, 2, 1) if trans else stored
        return view[0] if batch == 1 else view

    a = operand(m, k, spec["transA"])
    b = operand(k, n, spec["transB"])
    c = np.empty((m, n) if batch == 1 else (batch, m, n), dtype=np.float32)
    return lambda: np.matmul(a, b, out=c)


# ---- torch ------------------------------------------------------------------------------------------------------


def torch_layernorm(spec):
    import torch
    import torch.nn.functional as F

    n, c = spec["N"], spec["C"]
    x = torch.rand(n, c).mul_(2).sub_(1).requires_grad_()
    weight = torch.rand(c).requires_grad_()
    bias = torch.rand(c).requires_grad_()
    dout = torch.rand(n, c)

    def run():
        F.layer_norm(x, (c,), weight, bias, 1e-5).backward(dout)
        x.grad = weight.grad = bias.grad = None

    return run


def torch_softmax(spec):
    import torch

    x = torch.rand(spec["N"], spec["C"]).requires_grad_()
    dy = torch.rand(spec["N"], spec["C"])

    def run():
        torch.softmax(x, -1).backward(dy)
        x.grad = None

    return run


def torch_attention(spec):
    """softmax(Q K^T * scale) V with autograd, dropout on the probabilities when the spec asks: torch 1.13 has
    no fused attention on the CPU."""
    import torch

    b, h, tq, tk, d = spec["B"], spec["H"], spec["Tq"], spec["Tk"], spec["D"]
    backward = spec["backward"]
    q, k, v = (torch.rand(b, h, t, d).mul_(2).sub_(1).requires_grad_(backward) for t in (tq, tk, tk))
    dout = torch.rand(b, h, tq, d)
    scale = 1 / math.sqrt(d)
    hidden = torch.ones(tq, tk, dtype=torch.bool).triu(1) if spec["causal"] else None
    dropout_p = spec.get("dropoutP", 0)

    def forward():
        scores = torch.matmul(q, k.transpose(-2, -1)).mul_(scale)
        if hidden is not None:
            scores = scores.masked_fill(hidden, float("-inf"))
        probs = torch.softmax(scores, -1)
        if dropout_p > 0:
            probs = torch.nn.functional.dropout(probs, dropout_p, training=True)
        return torch.matmul(probs, v)

    def run_backward():
        forward().backward(dout)
        q.grad = k.grad = v.grad = None

    def run_forward():
        with torch.no_grad():
            forward()

    return run_backward if backward else run_forward


def uniform(*shape, low=-1.0):
    """A float32 tensor uniform in [low, 1), as the Node side fills its inputs."""
    import torch

    return torch.rand(*shape).mul_(1 - low).add_(low)


def torch_binary(spec):
    import torch

    op = getattr(torch, spec["op"])
    a, b = uniform(*spec["shape"]), uniform(*spec["shape"])
    out = torch.empty(spec["shape"])
    return lambda: op(a, b, out=out)


def torch_unary_fwd_bwd(spec):
    """The op and its backward through autograd, as the layer norm and softmax rows do."""
    import torch
    import torch.nn.functional as F

    op = {
        "gelu": F.gelu,
        "geluTanh": lambda t: F.gelu(t, approximate="tanh"),
        "tanh": torch.tanh,
    }[spec["op"]]
    x = uniform(spec["n"]).requires_grad_()
    dy = uniform(spec["n"])

    def run():
        op(x).backward(dy)
        x.grad = None

    return run


def torch_reduce(spec):
    import torch

    op = getattr(torch, spec["op"])
    x = uniform(spec["N"], spec["C"])
    out = torch.empty(spec["N"] if spec["dim"] == 1 else spec["C"])
    return lambda: op(x, spec["dim"], out=out)


def torch_permute(spec):
    """permute().contiguous() into a preallocated tensor, as ours writes into its output."""
    import torch

    x = uniform(*spec["shape"])
    view = x.permute(*spec["order"])
    out = torch.empty(view.shape)
    return lambda: out.copy_(view)


def torch_crossentropy(spec):
    """Per-row losses (reduction 'none') and their gradient from dlosses, as ours."""
    import torch
    import torch.nn.functional as F

    n, c = spec["N"], spec["C"]
    logits = uniform(n, c).requires_grad_()
    targets = torch.randint(0, c, (n,))
    dlosses = uniform(n)

    def run():
        F.cross_entropy(logits, targets, reduction="none").backward(dlosses)
        logits.grad = None

    return run


def torch_embedding(spec):
    import torch
    import torch.nn.functional as F

    n, v, c = spec["N"], spec["V"], spec["C"]
    weight = uniform(v, c).requires_grad_()
    ids = torch.randint(0, v, (n,))
    dout = uniform(n, c)

    def run():
        F.embedding(ids, weight).backward(dout)
        weight.grad = None

    return run


def torch_dropout(spec):
    import torch.nn.functional as F

    x = uniform(spec["n"])
    return lambda: F.dropout(x, spec["p"], training=True)


def torch_normal(spec):
    import torch

    out = torch.empty(spec["n"])
    return lambda: out.normal_()


def torch_adamw(spec):
    """torch.optim.AdamW's step on one tensor of n parameters (1.13 runs its single-tensor loop on the CPU)."""
    import torch

    n = spec["n"]
    param = torch.nn.Parameter(uniform(n))
    param.grad = uniform(n)
    optimizer = torch.optim.AdamW([param], lr=spec["lr"], weight_decay=spec["weightDecay"])
    optimizer.step()  # creates the moments, so that every timed step is a warm one
    return optimizer.step


def sinusoidal_positions(length, d_model):
    import torch

    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def seed_model(spec):
    import torch
    from torch import nn

    class Seed(nn.Module):
        def __init__(self):
            super().__init__()
            d = spec["dModel"]
            self.scale = math.sqrt(d)
            self.src_embedding = nn.Embedding(spec["srcVocab"], d)
            self.tgt_embedding = nn.Embedding(spec["tgtVocab"], d)
            self.register_buffer("positions", sinusoidal_positions(max(spec["srcLength"], spec["tgtLength"]), d))
            self.transformer = nn.Transformer(
                d_model=d, nhead=spec["heads"], num_encoder_layers=spec["encoderLayers"],
                num_decoder_layers=spec["decoderLayers"], dim_feedforward=spec["ff"], dropout=spec["dropout"],
                batch_first=True,
            )
            self.out = nn.Linear(d, spec["tgtVocab"])

        def forward(self, src, tgt):
            s = self.src_embedding(src) * self.scale + self.positions[: src.shape[1]]
            t = self.tgt_embedding(tgt) * self.scale + self.positions[: tgt.shape[1]]
            mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
            return self.out(self.transformer(s, t, tgt_mask=mask))

    return Seed()


def gpt_model(spec):
    import torch
    from torch import nn

    class Gpt(nn.Module):
        def __init__(self):
            super().__init__()
            d = spec["dModel"]
            self.token_embedding = nn.Embedding(spec["vocab"], d)
            self.position_embedding = nn.Embedding(spec["context"], d)
            self.dropout = nn.Dropout(spec["dropout"])
            layer = nn.TransformerEncoderLayer(
                d, spec["heads"], spec["ff"], spec["dropout"], activation="gelu", batch_first=True, norm_first=True,
            )
            self.blocks = nn.TransformerEncoder(layer, spec["layers"])
            self.norm = nn.LayerNorm(d)
            self.head = nn.Linear(d, spec["vocab"], bias=False)

        def forward(self, ids):
            length = ids.shape[1]
            x = self.dropout(self.token_embedding(ids) + self.position_embedding(torch.arange(length)))
            causal = torch.triu(torch.full((length, length), float("-inf")), 1)
            return self.head(self.norm(self.blocks(x, mask=causal)))

    return Gpt()


def training_step(model, spec, inputs, targets):
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["lr"])
    model.train()

    def run():
        optimizer.zero_grad(set_to_none=True)
        logits = model(*inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        optimizer.step()

    return run


def torch_seed_step(spec):
    import torch

    generator = torch.Generator().manual_seed(1)
    src = torch.randint(0, spec["srcVocab"], (spec["batch"], spec["srcLength"]), generator=generator)
    tgt = torch.randint(0, spec["tgtVocab"], (spec["batch"], spec["tgtLength"] + 1), generator=generator)
    return training_step(seed_model(spec), spec, (src, tgt[:, :-1]), tgt[:, 1:])


def torch_gpt_step(spec):
    import torch

    generator = torch.Generator().manual_seed(2)
    ids = torch.randint(0, spec["vocab"], (spec["batch"], spec["context"] + 1), generator=generator)
    return training_step(gpt_model(spec), spec, (ids[:, :-1],), ids[:, 1:])


def torch_gpt_generate(spec):
    """Greedy decoding that re-runs the whole sequence per token: torch's nn.Transformer has no KV cache."""
    import torch

    model = gpt_model(spec).eval()
    prompt = torch.randint(0, spec["vocab"], (spec["batch"], spec["prompt"]), generator=torch.Generator().manual_seed(3))

    def run():
        with torch.no_grad():
            ids = prompt
            for _ in range(spec["newTokens"]):
                next_id = model(ids[:, -spec["context"]:])[:, -1].argmax(-1, keepdim=True)
                ids = torch.cat([ids, next_id], 1)

    return run


BUILDERS = {
    "numpy": {"gemm": numpy_gemm},
    "blis": {"gemm": numpy_gemm},
    "torch": {
        "layernorm": torch_layernorm,
        "softmax": torch_softmax,
        "attention": torch_attention,
        "binary": torch_binary,
        "unaryFwdBwd": torch_unary_fwd_bwd,
        "reduce": torch_reduce,
        "permute": torch_permute,
        "crossentropy": torch_crossentropy,
        "embedding": torch_embedding,
        "dropout": torch_dropout,
        "normal": torch_normal,
        "adamw": torch_adamw,
        "seedStep": torch_seed_step,
        "gptStep": torch_gpt_step,
        "gptGenerate": torch_gpt_generate,
    },
}


class Peer:
    def __init__(self):
        self.calls = {}  # id -> (run, threads)
        self.name = None
        self.hello_reply = None

    def hello(self, _message):
        if self.hello_reply is None:
            self.hello_reply = self.describe()
        return self.hello_reply

    def describe(self):
        """The library's name, the kernel path it runs and whether its caps took effect (see the protocol)."""
        if LIBRARY == "numpy":
            import numpy

            core = openblas_core()
            self.name = f"numpy {numpy.__version__} + {blas_description()}"
            isa = f"OpenBLAS {core[1]}" if core else blas_description()
            capped, note = cap_check([openblas_check(core)])
        elif LIBRARY == "blis":
            blis = blis_arch()
            import numpy

            if blis is None:
                raise RuntimeError("numpy does not run on BLIS here (Debian: apt-get install libblis4-pthread)")
            self.name = f"numpy {numpy.__version__} + BLIS {blis[0]} {blis[1]}"
            isa = f"BLIS {blis[1]}"
            requested = os.environ.get("BENCH_BLIS_ARCH") or os.environ.get("BLIS_ARCH_TYPE")
            capped, note = cap_check([("BLIS_ARCH_TYPE", requested, blis[1], blis[1] == requested)])
        elif LIBRARY == "torch":
            import torch

            core = openblas_core()
            capability = torch_capability()
            self.name = f"torch {torch.__version__.split('+')[0]}"
            isa = f"ATen {capability}, " + (f"OpenBLAS {core[1]}" if core else blas_description())
            requested = os.environ.get("ATEN_CPU_CAPABILITY")
            aten_ok = capability in ATEN_CAPABILITY_NAMES.get(requested, ())
            capped, note = cap_check(
                [("ATEN_CPU_CAPABILITY", requested, capability, aten_ok), openblas_check(core)]
            )
        else:
            raise ValueError(f"unknown library {LIBRARY!r}")
        reply = {"name": self.name, "isa": isa, "capped": capped}
        if note:
            reply["capNote"] = note
        return reply

    def set_threads(self, threads):
        if LIBRARY == "torch":
            import torch

            torch.set_num_threads(threads)

    def setup(self, message):
        spec, threads = message["spec"], message["threads"]
        builder = BUILDERS[LIBRARY].get(spec["kind"])
        if builder is None:
            raise ValueError(f"{LIBRARY} peer has no row of kind {spec['kind']!r}")
        self.set_threads(threads)
        if LIBRARY == "torch":
            import torch

            torch.manual_seed(0)
        self.calls[message["id"]] = (builder(spec), threads)
        return {"name": self.name}

    def time(self, message):
        run, threads = self.calls[message["id"]]
        self.set_threads(threads)
        iters = message["iters"]
        start = time.perf_counter()
        for _ in range(iters):
            run()
        return {"ms": (time.perf_counter() - start) * 1000 / iters}

    def free(self, message):
        self.calls.pop(message["id"], None)
        return {}

    def maxrss(self, _message):
        import resource

        return {"maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def main():
    peer = Peer()
    handlers = {"hello": peer.hello, "setup": peer.setup, "time": peer.time, "free": peer.free, "maxrss": peer.maxrss}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
            reply = {"ok": True, **handlers[message["op"]](message)}
        except Exception as error:  # every failure goes back to the caller as a reply, never a dead pipe
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    prefer_blas()
    main()
