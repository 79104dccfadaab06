// A long training loop keeps flat memory: every step's tensors are freed by tidy(), and the native sizes are
// reported to V8. CI runs 1,500 steps; TN_MEMORY_STEPS=10000 runs the long version.
import { F, memory, noGrad, randn, Tensor, tidy } from '../src';

test('RSS stays flat over many forward/backward steps', () => {
  const x = randn([64, 32], { seed: 1 });
  const w1 = randn([128, 32], { seed: 2 }).mul(0.1).requiresGrad_();
  const w2 = randn([10, 128], { seed: 3 }).mul(0.1).requiresGrad_();
  const targets = randn([64], { seed: 4 }).abs().mul(3).int();
  const step = () =>
    tidy(() => {
      const logits = F.linear(F.gelu(F.linear(x, w1)), w2);
      F.crossEntropy(logits, targets).backward();
      noGrad(() => {
        for (const p of [w1, w2]) {
          p.copy_(p.sub((p.grad as Tensor).mul(0.01)));
          p.zeroGrad();
        }
      });
    });
  for (let i = 0; i < 300; i++) step();
  const before = process.memoryUsage().rss;
  const nativeBefore = memory();
  const steps = Number(process.env.TN_MEMORY_STEPS ?? 1500);
  for (let i = 0; i < steps; i++) step();
  const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
  if (process.env.TN_MEMORY_STEPS)
    console.log(`${steps} steps: RSS ${(before / 2 ** 20).toFixed(1)} MiB -> ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`);
  // One step allocates ~100 KiB of tensors: a leak of any of them would add > 100 MiB over 1,500 steps.
  expect(grownMiB).toBeLessThan(16);
  // Exactly the same native storages: every step's tensors were returned to the allocator and reused.
  expect(memory()).toEqual(nativeBefore);
});
