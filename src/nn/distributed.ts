// DistributedDataParallel: data parallelism over the processes of a dist job, as PyTorch's DDP does it. Every rank
// holds the same model (rank 0's parameters and buffers, broadcast at construction) and runs it on its own part of
// the batch; during backward() the gradients are averaged over the ranks in buckets of about bucketMB, each
// all-reduced on the communication thread as soon as all of its gradients are accumulated, so communication
// overlaps the rest of the backward. finishGradientSync() waits for the buckets before the optimizer reads the
// gradients (the Trainer calls it); noSync(fn) accumulates gradients locally for gradient accumulation.
import { noGrad } from '../autograd';
import * as dist from '../distributed';
import { keep, Tensor, zerosLike } from '../tensor';
import { Module } from './module';

export interface DistributedDataParallelOptions {
  /** Gradient bytes per all-reduce, in MiB (default 25, as PyTorch). The first bucket (the last layers' gradients,
   * which the backward produces first) holds at most 1 MiB, as PyTorch's, so that communication starts early. */
  bucketMB?: number;
}

/** When one bucket's all-reduce ran, in seconds of dist.now(), and how much gradient it carried. */
export interface BucketTiming {
  bytes: number;
  /** When its last gradient was accumulated and it was queued. */
  queued: number;
  /** When the communication thread started and finished it. */
  started: number;
  ended: number;
}

/** The last synchronization: every bucket's timing, and when finishGradientSync() was called (the end of the
 * backward, in the Trainer). The part of a bucket's all-reduce before backwardEnd was hidden behind the backward. */
export interface GradientSyncTiming {
  buckets: BucketTiming[];
  backwardEnd: number;
}

const FIRST_BUCKET_BYTES = 2 ** 20;

interface Bucket {
  params: Tensor[];
  bytes: number;
  /** The parameters whose gradients this backward has accumulated. */
  ready: Set<Tensor>;
  work: dist.Work | null;
}

export class DistributedDataParallel<M extends Module = Module> extends Module {
  readonly module: M;
  readonly bucketMB: number;
  private readonly buckets: Bucket[] = [];
  private readonly bucketOf = new Map<Tensor, Bucket>();
  private nextBucket = 0;
  private syncEnabled = true;
  private timing: GradientSyncTiming | null = null;

  /** Args: module, the model each rank runs; options.bucketMB. Needs dist.init() first (alone: rank 0 of 1). */
  constructor(module: M, options: DistributedDataParallelOptions = {}) {
    super();
    if (!(module instanceof Module)) throw new TypeError('DistributedDataParallel: module must be an nn.Module');
    if (options === null || typeof options !== 'object')
      throw new TypeError('DistributedDataParallel: options must be an object');
    const bucketMB = options.bucketMB ?? 25;
    if (typeof bucketMB !== 'number' || !(bucketMB > 0) || !Number.isFinite(bucketMB))
      throw new RangeError(`DistributedDataParallel: bucketMB must be a positive number, got ${String(bucketMB)}`);
    if (!dist.isInitialized()) throw new Error('DistributedDataParallel: call dist.init() first');
    this.module = this.registerModule('module', module);
    this.bucketMB = bucketMB;
    const state = [...module.parameters(), ...module.buffers()].filter((t) => t.dtype === 'float32');
    if (dist.worldSize() > 1 && state.length > 0) dist.broadcastAsync(state, 0).wait();
    this.buildBuckets();
  }

  override forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    return this.module.forward(...args);
  }

  /** Buckets in the reverse order of the parameters (the order the backward produces their gradients), each up to
   * bucketMB; the hooks that launch them. Alone, there is nothing to reduce and no hook. */
  private buildBuckets(): void {
    if (dist.worldSize() === 1) return;
    const limit = this.bucketMB * 2 ** 20;
    const firstLimit = Math.min(limit, FIRST_BUCKET_BYTES);
    const params = [...new Set(this.module.parameters())].filter((p) => p.requiresGrad).reverse();
    let bucket: Bucket | null = null;
    for (const p of params) {
      const cap = this.buckets.length === 1 ? firstLimit : limit;
      if (bucket === null || (bucket.bytes > 0 && bucket.bytes + p.size * 4 > cap)) {
        bucket = { params: [], bytes: 0, ready: new Set(), work: null };
        this.buckets.push(bucket);
      }
      bucket.params.push(p);
      bucket.bytes += p.size * 4;
      this.bucketOf.set(p, bucket);
      p.registerPostAccumulateGradHook((t) => this.onGradReady(t));
    }
  }

  private onGradReady(p: Tensor): void {
    if (!this.syncEnabled) return;
    const bucket = this.bucketOf.get(p) as Bucket;
    if (bucket.work !== null || bucket.ready.has(p))
      throw new Error(
        'DistributedDataParallel: a gradient was produced twice before finishGradientSync() (two backward() calls? wrap all but the last in noSync())',
      );
    bucket.ready.add(p);
    this.launchReady();
  }

  /** Launches the ready buckets in order: every rank must issue the same all-reduces in the same order. */
  private launchReady(): void {
    while (this.nextBucket < this.buckets.length) {
      const bucket = this.buckets[this.nextBucket];
      if (bucket.ready.size < bucket.params.length) return;
      bucket.work = dist.allReduceAsync(
        bucket.params.map((p) => p.grad as Tensor),
        { op: 'mean' },
      );
      this.nextBucket++;
    }
  }

  /** Runs fn (forward and backward of micro-batches) without averaging gradients: they accumulate on this rank until
   * a backward outside noSync, which averages the sums (PyTorch's no_sync()). */
  noSync<T>(fn: () => T): T {
    if (typeof fn !== 'function') throw new TypeError('DistributedDataParallel.noSync: fn must be a function');
    const previous = this.syncEnabled;
    this.syncEnabled = false;
    try {
      return fn();
    } finally {
      this.syncEnabled = previous;
    }
  }

  /** Waits until every bucket's gradients are averaged over the ranks, so the optimizer can read them. A parameter
   * that got no gradient in this backward counts as a zero gradient (the ranks must all take part in every bucket).
   * Blocks the calling thread; the Trainer calls it before clipping and the optimizer step. */
  finishGradientSync(): void {
    const backwardEnd = dist.now();
    if (this.buckets.length === 0) return;
    const started = this.buckets.some((b) => b.ready.size > 0);
    if (!started) return; // no backward since the last sync (or only under noSync)
    noGrad(() => {
      for (const bucket of this.buckets.slice(this.nextBucket))
        for (const p of bucket.params)
          if (!bucket.ready.has(p)) {
            if (p.grad === null) p.grad = keep(zerosLike(p));
            bucket.ready.add(p);
          }
    });
    this.launchReady();
    const timings: BucketTiming[] = [];
    for (const bucket of this.buckets) {
      const work = bucket.work as dist.Work;
      work.wait();
      const times = work.times();
      if (times !== null) timings.push({ bytes: bucket.bytes, ...times });
      bucket.work = null;
      bucket.ready.clear();
    }
    this.nextBucket = 0;
    this.timing = { buckets: timings, backwardEnd };
  }

  /** The timing of the last finishGradientSync() (null before one, or alone). */
  lastSyncTiming(): GradientSyncTiming | null {
    return this.timing;
  }

  /** How many all-reduces a synchronized backward makes. */
  get numBuckets(): number {
    return this.buckets.length;
  }
}
