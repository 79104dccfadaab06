"""PyTorch timings for bench/gpu/run.js: the same problems through cuBLAS (torch.matmul), PyTorch's fused
attention (F.scaled_dot_product_attention) and F.layer_norm, in the same run and on the same GPU.

Reads a JSON list of problems on stdin and prints one JSON object: {"device": name, "results": [seconds or
null per problem]}. Exits with status 2 when torch or a CUDA device is missing.
"""
import json
import sys


def main():
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        sys.exit(2)
    if not torch.cuda.is_available():
        sys.exit(2)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    problems = json.load(sys.stdin)
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)

    def timed(fn, min_seconds=0.3, max_iters=50):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        iters, total = 0, 0.0
        while iters < max_iters and total < min_seconds:
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            total += start.elapsed_time(end) / 1000.0
            iters += 1
        return total / iters

    results = []
    for p in problems:
        try:
            if p["kind"] == "gemm":
                dtype = torch.bfloat16 if p["dtype"] == "bf16" else torch.float32
                a = torch.randn(p["M"], p["K"], device=dev, dtype=dtype, generator=gen)
                b = torch.randn(p["N"], p["K"], device=dev, dtype=dtype, generator=gen)
                b = b.t() if p.get("transB") else b.t().contiguous()
                results.append(timed(lambda: torch.matmul(a, b)))
            elif p["kind"] == "attention":
                shape = (p["B"], p["H"], p["T"], p["D"])
                q, k, v = (torch.randn(shape, device=dev, generator=gen, requires_grad=True) for _ in range(3))
                if p["pass"] == "forward":
                    with torch.no_grad():
                        results.append(timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=p["causal"])))
                else:
                    out = F.scaled_dot_product_attention(q, k, v, is_causal=p["causal"])
                    grad = torch.randn_like(out)
                    results.append(timed(lambda: torch.autograd.grad(out, (q, k, v), grad, retain_graph=True)))
            elif p["kind"] == "layernorm":
                x = torch.randn(p["N"], p["C"], device=dev, generator=gen, requires_grad=True)
                w = torch.randn(p["C"], device=dev, generator=gen, requires_grad=True)
                b = torch.randn(p["C"], device=dev, generator=gen, requires_grad=True)
                if p["pass"] == "forward":
                    with torch.no_grad():
                        results.append(timed(lambda: F.layer_norm(x, (p["C"],), w, b)))
                else:
                    out = F.layer_norm(x, (p["C"],), w, b)
                    grad = torch.randn_like(out)
                    results.append(timed(lambda: torch.autograd.grad(out, (x, w, b), grad, retain_graph=True)))
            else:
                results.append(None)
        except Exception as e:  # one unsupported problem must not hide the others
            print(f"torch peer: {p}: {e}", file=sys.stderr)
            results.append(None)
        torch.cuda.empty_cache()
    json.dump({"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
