// The MPI addon, loaded lazily like the CUDA addon: only dist.init() under a launcher touches it, so installs
// without MPI work as before. It is build-mpi/Release/transformer_native_mpi.node (`npm run build:mpi`, against the
// machine's MPI), or the file named by TN_MPI_ADDON. Its collectives run on a communication thread of its own.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A collective queued on the communication thread. */
export interface NativeWork {
  /** Blocks until the collective is done on this rank. */
  wait(): void;
  readonly completed: boolean;
  /** When it was queued, started and ended (seconds of now(); ended is 0 while running). */
  times(): { queued: number; started: number; ended: number };
}

export type ReduceOp = 'sum' | 'mean' | 'max';
type HostArray = Float32Array | Float64Array | Uint8Array;

/** The raw bindings; src/distributed/index.ts is their only caller. Addresses are tensor memory (Storage.address) that the
 * caller keeps allocated until the work is done; keepAlive is referenced by the work until then. */
export interface MpiAddon {
  init(timeoutSeconds: number): {
    rank: number;
    worldSize: number;
    localRank: number;
    localSize: number;
    library: string;
  };
  setTimeout(seconds: number): void;
  allReduce(addresses: bigint[], counts: number[], op: ReduceOp, keepAlive?: object): NativeWork;
  allReduce(array: Float32Array | Float64Array, op: ReduceOp, keepAlive?: object): NativeWork;
  broadcast(addresses: bigint[], counts: number[], root: number, keepAlive?: object): NativeWork;
  broadcast(array: HostArray, root: number, keepAlive?: object): NativeWork;
  barrier(): NativeWork;
  finalize(): void;
  /** Seconds of the steady clock, the clock of NativeWork.times(). */
  now(): number;
}

/** Where the MPI addon is looked for. */
export function mpiAddonPath(): string {
  return (
    process.env.TN_MPI_ADDON ?? path.join(__dirname, '..', '..', 'build-mpi', 'Release', 'transformer_native_mpi.node')
  );
}

const HOW_TO_BUILD =
  'build it against the MPI of this machine: install MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) and run npm run build:mpi in the transformer-native package';

let loaded: MpiAddon | null = null;

/** The MPI addon; throws an error that says how to build it when it is missing or does not load. */
export function mpiAddon(): MpiAddon {
  if (loaded) return loaded;
  const file = mpiAddonPath();
  if (!fs.existsSync(file)) throw new Error(`dist: the MPI addon is not built (no ${file}); ${HOW_TO_BUILD}`);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as MpiAddon;
  } catch (e) {
    throw new Error(`dist: the MPI addon at ${file} failed to load (${(e as Error).message}); ${HOW_TO_BUILD}`);
  }
  return loaded;
}
