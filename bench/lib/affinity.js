'use strict';
// One core for both sides of the 1-thread rows. On a shared machine one core can run 25% or more slower than the
// other for minutes at a time (a busy neighbour on the host); an unpinned process and its unpinned peer may then
// sit on different cores and the ratio measures the cores, not the code. With both pinned to the same core while
// a 1-thread row runs, that noise hits both sides. Rows with more threads use every core the program was given.
// Linux with util-linux's `taskset` only; elsewhere nothing is pinned.
const { spawnSync } = require('node:child_process');

/** The CPU list (e.g. "0,1" or "0-3") that `taskset -cp` reports for a process, or null. */
function affinityList(pid) {
  const probe = spawnSync('taskset', ['-cp', String(pid)], { encoding: 'utf8' });
  if (probe.status !== 0) return null;
  const match = /list:\s*(\S+)/.exec(probe.stdout);
  return match ? match[1] : null;
}

/** The first CPU of a list such as "0-3,8". */
function firstCpu(list) {
  return list.split(',')[0].split('-')[0];
}

class Affinity {
  constructor() {
    this.all = process.platform === 'linux' ? affinityList(process.pid) : null;
    // Nothing to choose with a single CPU.
    this.single = this.all !== null && /^\d+$/.test(this.all) ? null : this.all && firstCpu(this.all);
    this.current = this.all;
  }

  /** For the log: which CPU the 1-thread rows run on, or "" when nothing is pinned. */
  describe() {
    return this.single === null ? '' : ` (1-thread rows: ours and the peer on CPU ${this.single})`;
  }

  /** Pins every thread of this process for a row with `threads` threads. */
  pinSelf(threads) {
    if (this.single === null) return;
    const list = threads === 1 ? this.single : this.all;
    if (list === this.current) return;
    const result = spawnSync('taskset', ['-a', '-cp', list, String(process.pid)], { encoding: 'utf8' });
    if (result.status === 0) this.current = list;
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

module.exports = { Affinity, affinityList, firstCpu };
