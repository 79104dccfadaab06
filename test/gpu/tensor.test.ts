// Tensors on the GPU: device round trips, ops and autograd through the CUDA kernels agreeing with the CPU.
// Skipped where no CUDA device is usable.
import * as F from '../../src/functional';
import { cuda } from '../../src/cuda';
import * as nn from '../../src/nn';
import { AdamW } from '../../src/optim';
import { arange, randn, tensor, tidy, Tensor, zeros } from '../../src/tensor';
import { expectError } from '../helpers';
import { describeGpu, normError } from './twins';

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

describeGpu('tensors on the GPU', () => {
  test('to("cuda") / to("cpu") round trips keep shape, dtype and values', () => {
    tidy(() => {
      const x = randn([3, 5, 7], { seed: 1 });
      const g = x.to('cuda');
      expect(g.device).toBe('cuda');
      expect(g.shape).toEqual([3, 5, 7]);
      expect(values(g.cpu())).toEqual(values(x));
      const ids = arange(0, 11).cuda();
      expect(ids.dtype).toBe('int32');
      expect(values(ids.to('cpu'))).toEqual(Array.from({ length: 11 }, (_, i) => i));
      const flags = tensor([true, false, true]).cuda();
      expect(flags.dtype).toBe('bool');
      expect(flags.toArray()).toEqual([true, false, true]);
      expect(g.to('cuda').device).toBe('cuda');
      expect(values(g.to('int32').cpu())).toEqual(values(x.to('int32')));
      expect(zeros([0, 4], { device: 'cuda' }).cpu().shape).toEqual([0, 4]);
    });
  });

  test('random tensors are the same on both devices for a seed', () => {
    tidy(() => {
      const cpu = randn([1001], { seed: 5 }),
        gpu = randn([1001], { seed: 5, device: 'cuda' });
      expect(normError(values(gpu), values(cpu))).toBeLessThan(1e-6);
    });
  });

  test('ops chained on the GPU match the CPU', () => {
    tidy(() => {
      const a = randn([4, 9, 33], { seed: 2 }),
        b = randn([33, 17], { seed: 3 }),
        c = randn([17], { seed: 4 });
      const run = (x: Tensor, y: Tensor, z: Tensor): Tensor =>
        F.softmax(x.matmul(y).add(z).gelu().mul(2).sub(x.sum(-1, true)), -1)
          .mean(1)
          .transpose(0, 1);
      const cpu = run(a, b, c);
      const gpu = run(a.cuda(), b.cuda(), c.cuda());
      expect(gpu.device).toBe('cuda');
      expect(gpu.shape).toEqual(cpu.shape);
      expect(normError(values(gpu), values(cpu))).toBeLessThan(2e-3); // one TF32 product in the chain
    });
  });

  test("a small MLP's gradients equal the CPU's", () => {
    const grads = (device: 'cpu' | 'cuda'): number[][] =>
      tidy(() => {
        const x = randn([16, 13], { seed: 10 }).to(device);
        const targets = tensor(Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 5)).to(device);
        const params = [
          randn([32, 13], { seed: 11 }).mul(0.3),
          randn([32], { seed: 12 }).mul(0.1),
          randn([32], { seed: 13 }).add(1),
          randn([32], { seed: 14 }).mul(0.1),
          randn([5, 32], { seed: 15 }).mul(0.3),
          randn([5], { seed: 16 }).mul(0.1),
        ].map((p) => p.to(device).requiresGrad_());
        const [w1, b1, g, beta, w2, b2] = params;
        const h = F.layerNorm(F.gelu(F.linear(x, w1, b1)), 32, g, beta);
        const loss = F.crossEntropy(F.linear(h, w2, b2), targets, { labelSmoothing: 0.1 });
        loss.backward();
        const result = [[loss.item()], ...params.map((p) => values(p.grad as Tensor))];
        for (const p of params) p.zeroGrad(); // gradients outlive tidy
        return result;
      });
    const cpu = grads('cpu'),
      gpu = grads('cuda');
    // TF32 products (10-bit mantissas) in four GEMMs and through layernorm's backward.
    cpu.forEach((c, i) => expect(normError(gpu[i], c)).toBeLessThan(5e-3));
  });

  test('gradients flow back across to()', () => {
    tidy(() => {
      const x = randn([6], { seed: 20 }).requiresGrad_();
      const y = x.to('cuda').mul(3).sum();
      y.backward();
      expect(x.grad?.device).toBe('cpu');
      expect(values(x.grad as Tensor)).toEqual([3, 3, 3, 3, 3, 3]);
      x.zeroGrad();
    });
  });

  test('attention through F on the GPU matches the CPU, forward and backward', () => {
    const run = (device: 'cpu' | 'cuda'): number[][] =>
      tidy(() => {
        const [q, k, v] = [21, 22, 23].map((seed) => randn([2, 3, 19, 16], { seed }).to(device).requiresGrad_());
        const out = F.scaledDotProductAttention(q, k, v, { isCausal: true });
        out.mul(out).sum().backward();
        const result = [values(out), ...[q, k, v].map((t) => values(t.grad as Tensor))];
        for (const t of [q, k, v]) t.zeroGrad();
        return result;
      });
    const cpu = run('cpu'),
      gpu = run('cuda');
    cpu.forEach((c, i) => expect(normError(gpu[i], c)).toBeLessThan(1e-5));
  });

  test('mixing devices is an error naming both', () => {
    tidy(() => {
      const a = randn([3]),
        b = randn([3]).cuda();
      expectError(() => a.add(b), 'Error', /different devices \(cpu and cuda\)/);
    });
  });

  test('a training-like loop keeps device memory flat', () => {
    const w = randn([64, 64], { seed: 30 }).cuda().requiresGrad_();
    const step = (): void =>
      tidy(() => {
        const loss = randn([32, 64], { seed: 31, device: 'cuda' }).matmul(w).relu().mean();
        loss.backward();
        w.zeroGrad();
      });
    step();
    const before = cuda.memoryStats();
    for (let i = 0; i < 20; i++) step();
    expect(cuda.memoryStats()).toEqual(before);
    w.dispose();
  });

  test('module.to("cuda") moves parameters in place: a training step matches the CPU, and to("cpu") brings it back', () => {
    const build = () => new nn.TransformerEncoderLayer(32, 4, { dimFeedforward: 64, dropout: 0, seed: 40 });
    const step = (layer: nn.Module, device: 'cpu' | 'cuda'): number[][] => {
      const optimizer = new AdamW(layer.parameters(), { lr: 1e-2 });
      const result = tidy(() => {
        const loss = layer
          .forward(randn([3, 7, 32], { seed: 41 }).to(device))
          .pow(2)
          .mean();
        loss.backward();
        optimizer.step();
        return [[loss.item()], ...layer.parameters().map((p) => values(p))];
      });
      optimizer.dispose();
      layer.zeroGrad();
      return result;
    };
    const cpuLayer = build(),
      gpuLayer = build();
    const params = gpuLayer.parameters();
    expect(gpuLayer.to('cuda')).toBe(gpuLayer);
    expect(gpuLayer.parameters()).toEqual(params); // same objects, new memory
    expect(params.every((p) => p.device === 'cuda')).toBe(true);
    const cpu = step(cpuLayer, 'cpu'),
      gpu = step(gpuLayer, 'cuda');
    cpu.forEach((c, i) => expect(normError(gpu[i], c)).toBeLessThan(5e-3)); // TF32 products
    gpuLayer.cpu();
    expect(params.every((p) => p.device === 'cpu')).toBe(true);
    expect(normError(values(params[0]), gpu[1])).toBe(0);
    cpuLayer.dispose();
    gpuLayer.dispose();
  });
});
