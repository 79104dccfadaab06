'use strict';
// The Node side of --compare: Python peer processes (bench/peers/peer.py) speaking JSON lines. OpenBLAS fixes
// its thread count when it starts, so numpy runs one process per thread count; PyTorch runs one process per
// thread count and OMP wait policy, and each row keeps the fastest of its candidate settings.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const PEER_SCRIPT = path.join(__dirname, '..', 'peers', 'peer.py');

/** The Python that runs the peer: BENCH_PYTHON when set, else the system Python (where Debian's torch and
 * numpy live), else python3 on the PATH; null when none starts. */
function findPython() {
  const candidates = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8' });
    if (probe.status === 0 && probe.stdout.trim() === '3') return python;
  }
  return null;
}

class PeerProcess {
  constructor(command, args, library, env) {
    this.library = library;
    this.exited = null;
    this.stderr = '';
    this.waiting = [];
    this.child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.on('error', (error) => this.fail(`cannot start: ${error.message}`));
    this.child.on('exit', (code, signal) => this.fail(`exited (${signal ?? `code ${code}`})`));
    this.child.stderr.on('data', (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-2000);
    });
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const pending = this.waiting.shift();
      if (pending === undefined) return;
      let reply;
      try {
        reply = JSON.parse(line);
      } catch {
        pending.reject(new Error(`${library} peer answered a non-JSON line: ${line.slice(0, 200)}`));
        return;
      }
      if (reply.ok) pending.resolve(reply);
      else pending.reject(new Error(`${library} peer: ${reply.error}`));
    });
  }

  fail(reason) {
    const detail = this.stderr.trim().split('\n').slice(-3).join(' | ');
    this.exited = `${this.library} peer ${reason}${detail ? `: ${detail}` : ''}`;
    for (const pending of this.waiting.splice(0)) pending.reject(new Error(this.exited));
  }

  request(message) {
    if (this.exited !== null) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
  }

  close() {
    if (this.exited === null) this.child.stdin.end();
  }
}

/** Environment of a peer: OpenBLAS's core-type overrides removed (they slow a current OpenBLAS), thread
 * counts fixed. */
function peerEnv(threads, passiveWait) {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  delete env.OMP_WAIT_POLICY;
  env.OPENBLAS_NUM_THREADS = String(threads);
  env.OMP_NUM_THREADS = String(threads);
  env.MKL_NUM_THREADS = String(threads);
  if (passiveWait) env.OMP_WAIT_POLICY = 'PASSIVE';
  return env;
}

class PeerPool {
  /** affinity: where each process runs (bench/lib/affinity.js), or null to leave that to the system. */
  constructor(python, affinity = null) {
    this.python = python;
    this.affinity = affinity;
    this.processes = new Map(); // key -> Promise<{ process, name } | { error }>
    this.nextId = 1;
  }

  /** A started process for (library, threads, passiveWait), or an error string. */
  process(library, threads, passiveWait) {
    const key = `${library}/${threads}/${passiveWait}`;
    if (!this.processes.has(key)) {
      const started = (async () => {
        if (this.python === null) return { error: 'no python3 found' };
        const args = [PEER_SCRIPT, library];
        const [command, commandArgs] = this.affinity
          ? this.affinity.command(threads, this.python, args)
          : [this.python, args];
        const peer = new PeerProcess(command, commandArgs, library, peerEnv(threads, passiveWait));
        if (this.affinity && threads === 1 && peer.child.pid !== undefined) this.affinity.follow(peer.child.pid);
        try {
          const hello = await peer.request({ op: 'hello' });
          return { process: peer, name: hello.name };
        } catch (error) {
          peer.close();
          return { error: error.message };
        }
      })();
      this.processes.set(key, started);
    }
    return this.processes.get(key);
  }

  /** The candidate settings of a row at `threads` (the process's BLAS/OpenMP threads); callThreads is what the
   * peer asks its library for per call: numpy runs with exactly `threads`; torch tries 1..threads intra-op
   * threads under each OMP wait policy. */
  candidates(row, threads) {
    if (row.peer === 'numpy') return [{ library: 'numpy', threads, callThreads: threads, passiveWait: false }];
    const list = [];
    for (const passiveWait of [false, true])
      for (let t = 1; t <= threads; t++) list.push({ library: 'torch', threads, callThreads: t, passiveWait });
    return list;
  }

  /** Sets the row up in every candidate setting; returns { handles } for those that work, each
   * { label, threads, processThreads, time(iters) -> Promise<ms per call>, free() }, or { error } when none does. */
  async setupAll(row, threads) {
    const handles = [];
    let lastError = 'no candidate';
    for (const candidate of this.candidates(row, threads)) {
      const started = await this.process(candidate.library, candidate.threads, candidate.passiveWait);
      if (started.error) {
        lastError = started.error;
        continue;
      }
      const id = this.nextId++;
      try {
        await started.process.request({ op: 'setup', id, spec: row.spec, threads: candidate.callThreads });
      } catch (error) {
        lastError = error.message;
        continue;
      }
      const settings = [`${candidate.callThreads} thread${candidate.callThreads > 1 ? 's' : ''}`];
      if (candidate.passiveWait) settings.push('OMP_WAIT_POLICY=PASSIVE');
      handles.push({
        label: `${started.name} (${settings.join(', ')})`,
        threads: candidate.callThreads,
        // BLAS and OpenMP threads of the peer's process: a torch call asked for 1 thread still runs its products on
        // these, and they spin after the call.
        processThreads: candidate.threads,
        time: async (iters) => (await started.process.request({ op: 'time', id, iters })).ms,
        free: () => started.process.request({ op: 'free', id }).catch(() => undefined),
      });
    }
    return handles.length > 0 ? { handles } : { error: lastError };
  }

  close() {
    for (const started of this.processes.values()) started.then((s) => s.process && s.process.close());
  }
}

module.exports = { PeerPool, findPython, peerEnv };
