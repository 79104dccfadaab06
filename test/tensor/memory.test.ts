// A long training loop keeps flat memory: every step's tensors are freed by tidy(), and the native sizes are
// reported to V8. CI runs 1,500 steps; TN_MEMORY_STEPS=10000 runs the long version.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { emptyCache, F, getCacheLimit, memory, noGrad, randn, setCacheLimit, Tensor, tidy, zeros } from '../../src';

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
  // In a fresh jest worker RSS still grows for the first ~1,500 steps (+17 MiB, with the JS heap flat), then not at
  // all (+0 over the next 4,500): the baseline is taken after that warm-up.
  for (let i = 0; i < 1500; i++) step();
  const before = process.memoryUsage().rss;
  const nativeBefore = memory();
  const steps = Number(process.env.TN_MEMORY_STEPS ?? 1500);
  for (let i = 0; i < steps; i++) step();
  const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
  if (process.env.TN_MEMORY_STEPS)
    console.log(
      `${steps} steps: RSS ${(before / 2 ** 20).toFixed(1)} MiB -> ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`,
    );
  // One step allocates ~100 KiB of tensors: a leak of any of them would add > 100 MiB over 1,500 steps.
  expect(grownMiB).toBeLessThan(16);
  // Exactly the same native storages: every step's tensors were returned to the allocator and reused.
  expect(memory()).toEqual(nativeBefore);
});

test('the caching allocator reuses storages by size, evicts the oldest returned past its limit, and empties', () => {
  emptyCache();
  const base = memory();
  const delta = () => {
    const now = memory();
    return { storages: now.storages - base.storages, cachedStorages: now.cachedStorages, cachedBytes: now.cachedBytes };
  };
  const [a, b, c] = [zeros([256]), zeros([512]), zeros([256])];
  for (const t of [a, b, c]) t.dispose(); // returned in the order a, b, c
  expect(delta()).toEqual({ storages: 3, cachedStorages: 3, cachedBytes: 4096 });
  const d = zeros([256]); // takes a cached 1 KiB storage: nothing new is allocated
  expect(delta()).toEqual({ storages: 3, cachedStorages: 2, cachedBytes: 3072 });
  expect(Array.from(d.dataSync()).every((v) => v === 0)).toBe(true); // zeros() of a reused storage is zeroed
  d.dispose(); // now the newest: the cache returns, from oldest, a or c (1 KiB), b (2 KiB), then d's
  const limit = getCacheLimit();
  try {
    setCacheLimit(4096 - 1024); // the oldest (1 KiB) goes
    expect(delta()).toEqual({ storages: 2, cachedStorages: 2, cachedBytes: 3072 - 1024 + 1024 });
    setCacheLimit(1024); // then b (2 KiB): d's storage, the newest, stays
    expect(delta()).toEqual({ storages: 1, cachedStorages: 1, cachedBytes: 1024 });
    const [e, g] = [zeros([512]), zeros([512])]; // nothing of 2 KiB is cached any more
    expect(delta()).toEqual({ storages: 3, cachedStorages: 1, cachedBytes: 1024 });
    e.dispose(); // larger than the whole limit: freed at once
    expect(delta()).toEqual({ storages: 2, cachedStorages: 1, cachedBytes: 1024 });
    setCacheLimit(2048);
    g.dispose(); // 3 KiB cached is over the limit: the oldest entry, d's 1 KiB storage, goes
    expect(delta()).toEqual({ storages: 1, cachedStorages: 1, cachedBytes: 2048 });
  } finally {
    setCacheLimit(limit);
    expect(getCacheLimit()).toBe(limit);
  }
  const f = zeros([128]);
  f.dispose();
  emptyCache();
  expect(delta()).toEqual({ storages: 0, cachedStorages: 0, cachedBytes: 0 });
});

test('TN_CACHE_BYTES sets the cache limit; a value that is not a byte count warns and keeps the default', () => {
  const limitWith = (value: string) => {
    const built = path.join(__dirname, '..', '..', 'dist', 'index.js');
    const r = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(built)}).getCacheLimit())`], {
      encoding: 'utf8',
      env: { ...process.env, TN_CACHE_BYTES: value },
    });
    return { limit: Number(r.stdout.trim()), stderr: r.stderr };
  };
  expect(limitWith('4096')).toEqual({ limit: 4096, stderr: '' });
  const bad = limitWith('lots');
  expect(bad.limit).toBe(2 ** 30);
  expect(bad.stderr).toMatch(/TN_CACHE_BYTES must be a non-negative number of bytes, got 'lots'/);
});
