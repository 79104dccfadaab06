// dist: the processes of a data-parallel job and their collectives, as torch.distributed names them. A launcher
// (mpirun/mpiexec, srun) starts the processes; init() joins them through MPI (the MPI addon, CPU tensors) or NCCL
// (the CUDA addon, GPU tensors; MPI carries its unique id). Without a launcher, init() gives rank 0 of 1 and every
// collective returns its input as it is, so the same script runs alone or in a job.
//
// Collectives work in place on tensor memory, on a communication thread: the *Async forms return a Work at once
// (wait() blocks until it is done), the plain forms wait. Every rank must issue the same collectives in the same order.
// A collective that does not complete within the timeout (default 10 minutes), or a rank of this host that dies,
// ends the job with a message naming what happened.
import { assertKnownKeys } from '../checks';
import { cudaAddon } from '../cuda';
import { Tensor } from '../tensor';
import { launcherInfo } from './launcher';
import { mpiAddon, MpiAddon, NativeWork, ReduceOp } from './mpi';

export type { ReduceOp } from './mpi';
export { launcherInfo } from './launcher';
export type { LauncherInfo } from './launcher';

export type Backend = 'mpi' | 'nccl';

export interface InitOptions {
  /** 'mpi' (the default): CPU tensors over MPI. 'nccl': GPU tensors over NCCL (CPU tensors still go over MPI). */
  backend?: Backend;
  /** Seconds a collective may take before the job is aborted (default: TN_DIST_TIMEOUT, else 600). */
  timeout?: number;
}

export interface ProcessGroupInfo {
  rank: number;
  worldSize: number;
  /** The rank among the processes on this host (e.g. which GPU to use). */
  localRank: number;
}

interface State extends ProcessGroupInfo {
  backend: Backend;
  /** The MPI addon when the job has more than one process (null alone). */
  mpi: MpiAddon | null;
}

const DEFAULT_TIMEOUT_SECONDS = 600;
let state: State | null = null;

/** A collective in flight. Its tensors stay allocated (even if disposed meanwhile) until it is done. */
export class Work {
  constructor(
    private readonly native: NativeWork | null,
    private readonly unpin: () => void = () => {},
  ) {}

  /** Blocks until the collective is done on this rank; its tensors then hold the result. */
  wait(): void {
    this.native?.wait();
    this.unpin();
  }

  /** Resolves once the collective is done on this rank, without blocking the event loop meanwhile (it looks every
   * millisecond); the tensors then hold the result. */
  async done(): Promise<void> {
    while (!this.completed) await new Promise((resolve) => setTimeout(resolve, 1));
    this.wait();
  }

  /** Whether the collective is done on this rank (without waiting). */
  get completed(): boolean {
    return this.native === null || this.native.completed;
  }

  /** When the collective was queued, started and ended on the communication thread, in seconds of dist.now()
   * (ended is 0 while it runs); null for a collective that had nothing to do (one process, NCCL). */
  times(): { queued: number; started: number; ended: number } | null {
    return this.native === null ? null : this.native.times();
  }
}

function timeoutFrom(op: string, value: unknown): number {
  const fromEnv = process.env.TN_DIST_TIMEOUT;
  const seconds = value ?? (fromEnv !== undefined ? Number(fromEnv) : DEFAULT_TIMEOUT_SECONDS);
  if (typeof seconds !== 'number' || !(seconds > 0) || !Number.isFinite(seconds))
    throw new RangeError(
      `${op}: timeout must be a positive number of seconds, got ${String(value ?? `TN_DIST_TIMEOUT=${fromEnv}`)}`,
    );
  return seconds;
}

/** Joins the job the launcher started (once per process; later calls return the same numbers). Without a launcher,
 * or with a job of one process, no MPI is needed: rank 0 of 1. */
export function init(options: InitOptions = {}): ProcessGroupInfo {
  if (options === null || typeof options !== 'object') throw new TypeError('dist.init: options must be an object');
  assertKnownKeys('dist.init', options, ['backend', 'timeout']);
  const backend = options.backend ?? 'mpi';
  if (backend !== 'mpi' && backend !== 'nccl')
    throw new RangeError(`dist.init: backend must be 'mpi' or 'nccl', got '${String(backend)}'`);
  const timeout = timeoutFrom('dist.init', options.timeout);
  if (state !== null) {
    if (state.backend !== backend)
      throw new Error(`dist.init: already initialized with backend '${state.backend}', not '${backend}'`);
    return info();
  }
  const launcher = launcherInfo();
  if (launcher === null || launcher.worldSize === 1) {
    state = { rank: 0, worldSize: 1, localRank: 0, backend, mpi: null };
  } else {
    const mpi = mpiAddon();
    const joined = mpi.init(timeout);
    if (joined.worldSize !== launcher.worldSize)
      throw new Error(
        `dist.init: the launcher started ${launcher.worldSize} processes (${launcher.source}) but MPI (${joined.library}) sees ${joined.worldSize}: was the MPI addon built against another MPI than the launcher's?`,
      );
    state = { rank: joined.rank, worldSize: joined.worldSize, localRank: joined.localRank, backend, mpi };
    // A clean exit leaves MPI cleanly; after an error, exiting without MPI_Finalize makes the launcher end the job.
    process.once('exit', (code) => {
      if (code === 0) finalize();
    });
  }
  if (backend === 'nccl') {
    try {
      initNccl(state);
    } catch (e) {
      // Alone, nothing is left to undo; in a job MPI stays up (it cannot start twice), for CPU tensors only.
      if (state.mpi === null) state = null;
      else state.backend = 'mpi';
      throw e;
    }
  }
  return info();
}

/** One NCCL communicator over the job: rank 0 makes the unique id, MPI hands it to the others; each process uses
 * the GPU of its local rank. */
function initNccl(s: State): void {
  const cuda = cudaAddon();
  const id = s.rank === 0 ? cuda.ncclUniqueId() : new Uint8Array(cuda.ncclUniqueIdBytes());
  s.mpi?.broadcast(id, 0, id).wait();
  cuda.ncclInit(id, s.worldSize, s.rank, s.localRank % cuda.deviceCount());
}

function current(op: string): State {
  if (state === null) throw new Error(`dist.${op}: call dist.init() first`);
  return state;
}

function info(): ProcessGroupInfo {
  const { rank, worldSize, localRank } = current('init');
  return { rank, worldSize, localRank };
}

export function isInitialized(): boolean {
  return state !== null;
}

/** This process's rank, 0 to worldSize() - 1. */
export function rank(): number {
  return current('rank').rank;
}

export function worldSize(): number {
  return current('worldSize').worldSize;
}

export function localRank(): number {
  return current('localRank').localRank;
}

export function backend(): Backend {
  return current('backend').backend;
}

/** Rank and world size, or rank 0 of 1 before init(): for code that runs alone or in a job (the Trainer). */
export function processGroup(): ProcessGroupInfo {
  return state === null ? { rank: 0, worldSize: 1, localRank: 0 } : info();
}

/** Changes the collective timeout (seconds). */
export function setCollectiveTimeout(seconds: number): void {
  const s = current('setCollectiveTimeout');
  const checked = timeoutFrom('dist.setCollectiveTimeout', seconds);
  s.mpi?.setTimeout(checked);
}

/** Seconds of the communication thread's clock (Work.times()). */
export function now(): number {
  return state?.mpi?.now() ?? performance.now() / 1000;
}

function checkTensors(op: string, tensors: Tensor[]): void {
  if (tensors.length === 0) throw new RangeError(`dist.${op}: no tensors`);
  const device = tensors[0]?.device;
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw new TypeError(`dist.${op}: expected a Tensor, got ${typeof t}`);
    if (t.isDisposed) throw new Error(`dist.${op}: the tensor was disposed`);
    if (t.dtype !== 'float32') throw new TypeError(`dist.${op}: only float32 tensors are supported, got ${t.dtype}`);
    if (t.device !== device) throw new RangeError(`dist.${op}: the tensors are on different devices`);
  }
}

function asList(op: string, tensors: Tensor | Tensor[]): Tensor[] {
  const list = Array.isArray(tensors) ? tensors : [tensors];
  checkTensors(op, list);
  return list;
}

function checkRoot(op: string, s: State, root: unknown): number {
  if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= s.worldSize)
    throw new RangeError(`dist.${op}: root must be a rank in [0, ${s.worldSize}), got ${String(root)}`);
  return root;
}

/** Whether the tensors go over NCCL: GPU tensors need the 'nccl' backend, which takes them even alone (one rank:
 * a real NCCL call all the same). NCCL queues the collective on the stream, where later kernels wait for it. */
function onGpu(op: string, s: State, tensors: Tensor[]): boolean {
  if (tensors[0].device !== 'cuda') return false;
  if (s.backend !== 'nccl')
    throw new Error(`dist.${op}: CUDA tensors need dist.init({ backend: 'nccl' }) (this job uses '${s.backend}')`);
  return true;
}

/** Pins the tensors' memory for a collective: their addresses and counts, and the function that unpins them. */
function pinned(tensors: Tensor[]): { addresses: bigint[]; counts: number[]; unpin: () => void } {
  const unpins = tensors.map((t) => t.pinStorage());
  return {
    addresses: tensors.map((t) => t.storage.address),
    counts: tensors.map((t) => t.size),
    unpin: () => unpins.forEach((u) => u()),
  };
}

/** Starts an in-place all-reduce of a tensor, or of several as one collective (packed on the communication
 * thread): 'sum', 'mean' (the sum divided by the world size) or 'max' over the ranks. */
export function allReduceAsync(tensors: Tensor | Tensor[], options: { op?: ReduceOp } = {}): Work {
  const s = current('allReduce');
  const list = asList('allReduce', tensors);
  assertKnownKeys('dist.allReduce', options ?? {}, ['op']);
  const op = options?.op ?? 'sum';
  if (op !== 'sum' && op !== 'mean' && op !== 'max')
    throw new RangeError(`dist.allReduce: op must be 'sum', 'mean' or 'max', got '${String(op)}'`);
  if (onGpu('allReduce', s, list)) {
    const cuda = cudaAddon();
    for (const t of list) cuda.ncclAllReduce(t.storage, t.size, op);
    return new Work(null);
  }
  if (s.worldSize === 1) return new Work(null);
  const { addresses, counts, unpin } = pinned(list);
  const mpi = s.mpi as MpiAddon;
  return new Work(mpi.allReduce(addresses, counts, op, list), unpin);
}

/** In-place all-reduce: every rank ends with the reduction of every rank's tensor. Returns the tensor. */
export function allReduce(tensor: Tensor, options: { op?: ReduceOp } = {}): Tensor {
  allReduceAsync(tensor, options).wait();
  return tensor;
}

/** Starts an in-place broadcast of rank `root`'s tensors to every rank. */
export function broadcastAsync(tensors: Tensor | Tensor[], root = 0): Work {
  const s = current('broadcast');
  const list = asList('broadcast', tensors);
  checkRoot('broadcast', s, root);
  if (onGpu('broadcast', s, list)) {
    const cuda = cudaAddon();
    for (const t of list) cuda.ncclBroadcast(t.storage, t.size, root);
    return new Work(null);
  }
  if (s.worldSize === 1) return new Work(null);
  const { addresses, counts, unpin } = pinned(list);
  return new Work((s.mpi as MpiAddon).broadcast(addresses, counts, root, list), unpin);
}

/** In-place broadcast: every rank ends with rank `root`'s values. Returns the tensor. */
export function broadcast(tensor: Tensor, root = 0): Tensor {
  broadcastAsync(tensor, root).wait();
  return tensor;
}

/** Waits until every rank has reached the barrier. */
export function barrier(): void {
  current('barrier').mpi?.barrier().wait();
}

/** All-reduces plain numbers in float64 (metrics, counts); alone, returns them as they are. */
export function allReduceNumbers(values: number[], op: ReduceOp = 'sum'): number[] {
  const s = current('allReduceNumbers');
  if (!Array.isArray(values) || values.some((v) => typeof v !== 'number'))
    throw new TypeError('dist.allReduceNumbers: values must be an array of numbers');
  const array = Float64Array.from(values);
  if (s.worldSize > 1 && array.length > 0) (s.mpi as MpiAddon).allReduce(array, op, array).wait();
  return Array.from(array);
}

/** Leaves the job: waits for queued collectives and shuts MPI (and NCCL) down. Nothing dist can be used after. */
export function finalize(): void {
  if (state === null) return;
  if (state.backend === 'nccl') cudaAddon().ncclFinalize();
  state.mpi?.finalize();
  state = null;
}
