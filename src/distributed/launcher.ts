// What the launcher tells each process about its place in the job, from the environment: Open MPI's mpirun
// (OMPI_COMM_WORLD_*), MPICH/Intel MPI's Hydra and Slurm's srun with PMI (PMI_*), PMIx (PMIX_RANK), Slurm itself
// (SLURM_*). MPI reports the same numbers once initialized; the environment says whether to initialize at all.

export interface LauncherInfo {
  rank: number;
  worldSize: number;
  /** The rank among the processes of this host. */
  localRank: number;
  /** The variables the numbers came from, e.g. 'OMPI_COMM_WORLD_*'. */
  source: string;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text);
}

/** [source, rank, size, local rank] variable names, most specific first. */
const LAUNCHERS: Array<[string, string, string, string[]]> = [
  ['OMPI_COMM_WORLD_*', 'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', ['OMPI_COMM_WORLD_LOCAL_RANK']],
  ['PMI_*', 'PMI_RANK', 'PMI_SIZE', ['MPI_LOCALRANKID', 'PMI_LOCAL_RANK', 'SLURM_LOCALID']],
  ['PMIX_*', 'PMIX_RANK', 'OMPI_COMM_WORLD_SIZE', ['OMPI_COMM_WORLD_LOCAL_RANK']],
  ['SLURM_*', 'SLURM_PROCID', 'SLURM_NTASKS', ['SLURM_LOCALID']],
];

/** The launcher's numbers for this process, or null when it was not started by one (a plain `node` run). */
export function launcherInfo(env: Env = process.env): LauncherInfo | null {
  for (const [source, rankName, sizeName, localNames] of LAUNCHERS) {
    const rank = integer(env, rankName);
    const worldSize = integer(env, sizeName);
    if (rank === undefined || worldSize === undefined || worldSize < 1 || rank >= worldSize) continue;
    const local = localNames.map((name) => integer(env, name)).find((v) => v !== undefined);
    return { rank, worldSize, localRank: local ?? 0, source };
  }
  return null;
}
