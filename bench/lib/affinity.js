'use strict';
// One core for both sides of the 1-thread rows. On a shared machine one core can run markedly slower than the
// other for minutes at a time (a busy neighbour on the host); an unpinned process and its unpinned peer may then
// sit on different cores and the ratio measures the cores, not the code. With both pinned to the same core while
// a 1-thread row runs, that noise hits both sides. Which core: before each 1-thread row, the one where a fixed
// probe runs fastest, since a neighbour thrashing a core's caches can slow cache-bound kernels severalfold there while its
// FMA peak does not move. Rows with more threads use every core the program was given.
// Linux with util-linux's `taskset` only; elsewhere nothing is pinned.
const { spawnSync } = require('node:child_process');

/** The CPU list (e.g. "0,1" or "0-3") that `taskset -cp` reports for a process, or null. */
function affinityList(pid) {
  const probe = spawnSync('taskset', ['-cp', String(pid)], { encoding: 'utf8' });
  if (probe.status !== 0) return null;
  const match = /list:\s*(\S+)/.exec(probe.stdout);
  return match ? match[1] : null;
}

/** Every CPU of a list such as "0-3,8", as strings: ["0", "1", "2", "3", "8"]. */
function expandCpus(list) {
  return list.split(',').flatMap((part) => {
    const [first, last = first] = part.split('-').map(Number);
    return Array.from({ length: last - first + 1 }, (_, i) => String(first + i));
  });
}

/** Pins every thread of process `pid` to the CPU list; true when taskset did. */
function pin(pid, list) {
  return spawnSync('taskset', ['-a', '-cp', list, String(pid)], { encoding: 'utf8' }).status === 0;
}

class Affinity {
  constructor() {
    this.all = process.platform === 'linux' ? affinityList(process.pid) : null;
    this.cpus = this.all === null ? [] : expandCpus(this.all);
    // The CPU of the 1-thread rows; nothing to choose with a single CPU.
    this.single = this.cpus.length > 1 ? this.cpus[0] : null;
    this.current = this.all;
    // Peer processes of 1-thread rows: they move with `single`.
    this.followers = new Set();
  }

  /** For the log: where the 1-thread rows run, or "" when nothing is pinned. */
  describe() {
    return this.single === null
      ? ''
      : ` (1-thread rows: ours and the peer on one CPU of ${this.all}, chosen before each row by a probe)`;
  }

  /** Pins every thread of this process for a row with `threads` threads. */
  pinSelf(threads) {
    if (this.single === null) return;
    this.pinSelfTo(threads === 1 ? this.single : this.all);
  }

  pinSelfTo(list) {
    if (list !== this.current && pin(process.pid, list)) this.current = list;
  }

  /** A 1-thread peer process started by `command`, moved to `single` whenever it changes. */
  follow(pid) {
    if (this.single !== null) this.followers.add(pid);
  }

  /** Makes `single` the CPU where probe() (this process pinned there; returns ms) runs fastest, and moves the
   * followers there. Returns the CPU, or null when nothing is pinned. */
  chooseFastest(probe) {
    if (this.cpus.length < 2) return this.single;
    let best = this.single;
    let bestMs = Infinity;
    for (const cpu of this.cpus) {
      this.pinSelfTo(cpu);
      const ms = probe();
      if (ms < bestMs) [best, bestMs] = [cpu, ms];
    }
    if (best !== this.single) {
      this.single = best;
      for (const pid of this.followers) if (!pin(pid, best)) this.followers.delete(pid);
    }
    return best;
  }

  /** [command, args] that start `command args` pinned like a row with `threads` threads. */
  command(threads, command, args) {
    if (this.single === null || threads !== 1) return [command, args];
    return ['taskset', ['-c', this.single, command, ...args]];
  }

  /** Gives this process back every CPU it started with. */
  restore() {
    this.pinSelf(Infinity);
  }
}

module.exports = { Affinity, affinityList, expandCpus };
