// The parts of data-parallel training that one process can check: dist without a launcher (rank 0 of 1), the
// launcher environment, DistributedDataParallel alone, the post-accumulate gradient hook, and DataLoader shards
// (PyTorch's DistributedSampler semantics) with their state across world sizes. The multi-process jobs are in
// mpi.test.ts.
import { cuda } from '../../src/cuda';
import { DataLoader, Shard } from '../../src/data/dataloader';
import * as dist from '../../src/distributed';
import { launcherInfo } from '../../src/distributed/launcher';
import { Linear } from '../../src/nn/layers';
import { DistributedDataParallel } from '../../src/nn/distributed';
import { tensor, tidy } from '../../src/tensor';

describe('the launcher environment', () => {
  test("Open MPI's, PMI's (MPICH, srun --mpi=pmi2) and Slurm's variables", () => {
    expect(launcherInfo({})).toBeNull();
    expect(
      launcherInfo({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1' }),
    ).toEqual({ rank: 3, worldSize: 4, localRank: 1, source: 'OMPI_COMM_WORLD_*' });
    expect(launcherInfo({ PMI_RANK: '1', PMI_SIZE: '2', MPI_LOCALRANKID: '1' })).toEqual({
      rank: 1,
      worldSize: 2,
      localRank: 1,
      source: 'PMI_*',
    });
    expect(launcherInfo({ SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1' })).toEqual({
      rank: 5,
      worldSize: 8,
      localRank: 1,
      source: 'SLURM_*',
    });
    // Nonsense is no launcher.
    expect(launcherInfo({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '2' })).toBeNull();
    expect(launcherInfo({ PMI_RANK: 'x', PMI_SIZE: '2' })).toBeNull();
  });
});

describe('dist alone (no launcher)', () => {
  afterEach(() => dist.finalize());

  test('init gives rank 0 of 1 and collectives leave tensors as they are', () => {
    expect(() => dist.rank()).toThrow('dist.rank: call dist.init() first');
    expect(dist.processGroup()).toEqual({ rank: 0, worldSize: 1, localRank: 0 });
    expect(dist.init()).toEqual({ rank: 0, worldSize: 1, localRank: 0 });
    expect([dist.rank(), dist.worldSize(), dist.localRank(), dist.backend()]).toEqual([0, 1, 0, 'mpi']);
    const t = tensor([1, 2, 3]);
    expect(dist.allReduce(t, { op: 'mean' })).toBe(t);
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(dist.broadcast(t, 0).dataSync())).toEqual([1, 2, 3]);
    const work = dist.allReduceAsync([t, tensor([4])]);
    expect(work.completed).toBe(true);
    work.wait();
    expect(work.times()).toBeNull();
    dist.barrier();
    expect(dist.allReduceNumbers([1.5, 2], 'sum')).toEqual([1.5, 2]);
    t.dispose();
  });

  test("backend 'nccl' without a usable GPU is an error that leaves dist uninitialized", () => {
    if (cuda.isAvailable()) return; // the GPU tests cover it (test/gpu/nccl.test.ts)
    expect(() => dist.init({ backend: 'nccl' })).toThrow(/CUDA/);
    expect(dist.isInitialized()).toBe(false);
  });

  test('bad arguments are errors naming them', () => {
    expect(() => dist.init({ backend: 'gloo' as 'mpi' })).toThrow(
      "dist.init: backend must be 'mpi' or 'nccl', got 'gloo'",
    );
    expect(() => dist.init({ timeout: -1 })).toThrow('dist.init: timeout must be a positive number of seconds, got -1');
    expect(() => dist.init({ bogus: 1 } as object)).toThrow("dist.init: unknown option 'bogus'");
    dist.init();
    expect(() => dist.allReduce(tensor([1]), { op: 'prod' as 'sum' })).toThrow(
      "dist.allReduce: op must be 'sum', 'mean' or 'max', got 'prod'",
    );
    expect(() => dist.allReduce(tensor([1], { dtype: 'int32' }))).toThrow('only float32 tensors are supported');
    expect(() => dist.broadcast(tensor([1]), 1)).toThrow('dist.broadcast: root must be a rank in [0, 1), got 1');
    expect(() => dist.allReduceAsync([])).toThrow('dist.allReduce: no tensors');
    expect(() => dist.allReduceNumbers(['1' as unknown as number])).toThrow('values must be an array of numbers');
    expect(() => dist.setCollectiveTimeout(0)).toThrow('dist.setCollectiveTimeout: timeout must be a positive number');
    dist.setCollectiveTimeout(30);
  });
});

describe('DistributedDataParallel alone', () => {
  afterEach(() => dist.finalize());

  test('needs dist.init(); forwards to the module; gradients stay as computed', () => {
    const linear = new Linear(3, 2, { seed: 1 });
    expect(() => new DistributedDataParallel(linear)).toThrow('DistributedDataParallel: call dist.init() first');
    dist.init();
    expect(() => new DistributedDataParallel(linear, { bucketMB: 0 })).toThrow('bucketMB must be a positive number');
    const ddp = new DistributedDataParallel(linear);
    expect([...ddp.stateDict().keys()]).toEqual(['module.weight', 'module.bias']);
    const x = tensor([[1, 2, 3]]);
    tidy(() => ddp.forward(x).sum().backward());
    ddp.noSync(() => tidy(() => ddp.forward(x).sum().backward()));
    ddp.finishGradientSync();
    expect(Array.from(linear.bias?.grad?.dataSync() ?? [])).toEqual([2, 2]);
    expect(ddp.numBuckets).toBe(0);
    ddp.dispose();
    x.dispose();
  });
});

describe('registerPostAccumulateGradHook', () => {
  test('runs once per backward, after every contribution is in .grad', () => {
    const w = tensor([1, 2]).requiresGrad_();
    const seen: number[][] = [];
    const handle = w.registerPostAccumulateGradHook((t) => seen.push(Array.from(t.grad?.dataSync() ?? [])));
    // w is used twice: the hook sees the sum of both uses, once.
    tidy(() => w.mul(2).add(w.mul(3)).sum().backward());
    expect(seen).toEqual([[5, 5]]);
    tidy(() => w.sum().backward());
    expect(seen).toEqual([
      [5, 5],
      [6, 6],
    ]);
    handle.remove();
    tidy(() => w.sum().backward());
    expect(seen).toHaveLength(2);
    expect(() => tensor([1]).registerPostAccumulateGradHook(() => undefined)).toThrow('only a leaf that requires grad');
    w.dispose();
  });
});

describe('DataLoader shards', () => {
  const collate = (examples: number[]) => examples;
  const loader = (n: number, options: { batchSize?: number; maxTokens?: number; shard?: Shard } = {}) =>
    new DataLoader(
      Array.from({ length: n }, (_, i) => i),
      {
        batchSize: options.batchSize ?? 2,
        maxTokens: options.maxTokens,
        lengthOf: options.maxTokens ? (e: number) => 1 + (e % 5) : undefined,
        shuffle: true,
        seed: 5,
        collate,
        shard: options.shard,
      },
    );

  test("the ranks' parts are disjoint, cover the epoch, and pad with its first examples as PyTorch does", () => {
    const whole = loader(10).plan(1).flat();
    const parts = [0, 1, 2].map((rank) =>
      loader(10, { shard: { rank, worldSize: 3 } })
        .plan(1)
        .flat(),
    );
    // 10 examples over 3 ranks: 4 each, the order padded with its first two examples.
    const padded = [...whole, ...whole.slice(0, 2)];
    parts.forEach((part, rank) => expect(part).toEqual(padded.filter((_, i) => i % 3 === rank)));
    expect(new Set(parts.flat())).toEqual(new Set(whole));
    // dropLast: the tail that does not divide is left out.
    const dropped = [0, 1, 2].map((rank) =>
      loader(10, { shard: { rank, worldSize: 3, dropLast: true } })
        .plan(1)
        .flat(),
    );
    dropped.forEach((part, rank) => expect(part).toEqual(whole.slice(0, 9).filter((_, i) => i % 3 === rank)));
    // Another epoch, another permutation.
    expect(
      loader(10, { shard: { rank: 0, worldSize: 3 } })
        .plan(2)
        .flat(),
    ).not.toEqual(parts[0]);
  });

  test('with a token budget every rank stops at the fewest batches', () => {
    const counts = [0, 1].map((rank) => loader(40, { maxTokens: 6, shard: { rank, worldSize: 2 } }).plan(0).length);
    expect(counts[0]).toBe(counts[1]);
  });

  test('a state saved on some ranks resumes at the same share of the epoch on others', () => {
    const two = loader(16, { shard: { rank: 0, worldSize: 2 } });
    const it = two[Symbol.iterator]();
    for (let i = 0; i < 2; i++) it.next();
    expect(two.state()).toEqual({ epoch: 0, position: 2, worldSize: 2 });
    // 2 batches of 2 on each of 2 ranks: 8 examples seen, 4 batches of one process.
    const one = loader(16);
    one.loadState(two.state());
    expect(one.state()).toEqual({ epoch: 0, position: 4 });
    const four = loader(16, { shard: { rank: 1, worldSize: 4 } });
    four.loadState(two.state());
    expect(four.state()).toEqual({ epoch: 0, position: 1, worldSize: 4 });
    // setShard keeps the position's share.
    one.setShard({ rank: 0, worldSize: 2 });
    expect(one.state()).toEqual({ epoch: 0, position: 2, worldSize: 2 });
    expect(() => one.setShard({ rank: 2, worldSize: 2 })).toThrow('shard.rank 2 is not below shard.worldSize 2');
  });
});
