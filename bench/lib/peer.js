'use strict';
// The Node side of --compare: Python peer processes (bench/peers/peer.py) speaking JSON lines. OpenBLAS and BLIS
// fix their thread counts when they start, so numpy runs one process per BLAS library and thread count; PyTorch
// runs one process per thread count and OMP wait policy, and each row keeps the fastest of its candidate
// settings. Under --isa every peer process starts with its library capped to the instruction set of our path.
const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const PEER_SCRIPT = path.join(__dirname, '..', 'peers', 'peer.py');
/** onnxruntime-node and HF's tokenizers run in Node processes of their own, speaking the same protocol. */
const NODE_PEERS = {
  onnxruntime: path.join(__dirname, '..', 'peers', 'onnxruntime.js'),
  // HF's Rust tokenizers, through their npm binding (bench/peers/hf-tokenizers.js).
  'hf-tokenizers': path.join(__dirname, '..', 'peers', 'hf-tokenizers.js'),
};

/** The program and arguments of a peer process of `library` (null: no Python where one is needed). */
function peerCommand(library, python) {
  if (NODE_PEERS[library] !== undefined) return [process.execPath, [NODE_PEERS[library]]];
  return python === null ? null : [python, [PEER_SCRIPT, library]];
}

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

// The instruction-set caps under --isa. OpenBLAS: the core type whose kernels it runs (Prescott: 128-bit SSE3,
// the oldest core of its default x86-64 list; Haswell: AVX2+FMA; nothing for avx512, where it picks its own).
// BLIS: the sub-configuration (peer.py translates the name into the number BLIS 0.9 reads). PyTorch: the ATen
// kernels' capability (1.13 knows default, avx2 and avx512, and runs avx2 unless asked for avx512) and, for its
// products, the OpenBLAS core.
const OPENBLAS_CORE = { generic: 'Prescott', avx2: 'Haswell' };
const BLIS_ARCH = { generic: 'generic', avx2: 'haswell' };
const ATEN_CAPABILITY = { generic: 'default', avx2: 'avx2', avx512: 'avx512' };

/** The environment settings that cap `library` ('numpy', 'blis' or 'torch') to the path `isa`, or null when
 * nothing is capped (no --isa, or a library that picks the widest path itself). */
function peerCaps(library, isa) {
  if (isa === null) return null;
  const caps = {};
  if (library === 'torch') caps.ATEN_CPU_CAPABILITY = ATEN_CAPABILITY[isa];
  if ((library === 'numpy' || library === 'torch') && OPENBLAS_CORE[isa]) caps.OPENBLAS_CORETYPE = OPENBLAS_CORE[isa];
  if (library === 'blis' && BLIS_ARCH[isa]) caps.BLIS_ARCH_TYPE = BLIS_ARCH[isa];
  return Object.keys(caps).length > 0 ? caps : null;
}

/** 'A=x, B=y' for a caps object; 'none' for null. */
function capsText(caps) {
  return caps === null
    ? 'none'
    : Object.entries(caps)
        .map(([name, value]) => `${name}=${value}`)
        .join(', ');
}

// Variables that choose a library's kernels: removed from every peer's environment (OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE, set for old-CPU workarounds, slow a current OpenBLAS), so that only --isa sets them.
const KERNEL_VARIABLES = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'BLIS_ARCH_TYPE', 'ATEN_CPU_CAPABILITY'];
const THREAD_VARIABLES = ['OPENBLAS_NUM_THREADS', 'BLIS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'];

/** Environment of a peer process of `library`, from `base`: the kernel choices removed, then the caps of --isa
 * (`isa`, null for none) set; thread counts fixed; OMP_WAIT_POLICY=PASSIVE when passiveWait. */
function peerEnv(library, threads, { passiveWait = false, isa = null } = {}, base = process.env) {
  const env = { ...base };
  for (const name of [...KERNEL_VARIABLES, 'OMP_WAIT_POLICY']) delete env[name];
  for (const name of THREAD_VARIABLES) env[name] = String(threads);
  if (passiveWait) env.OMP_WAIT_POLICY = 'PASSIVE';
  return Object.assign(env, peerCaps(library, isa));
}

class PeerPool {
  /** affinity: where each process runs (bench/lib/affinity.js), or null to leave that to the system; isa: the
   * --isa path the peers are capped to (null: none); log: where a cap that did not take effect is reported. */
  constructor(python, affinity = null, { isa = null, log = () => undefined } = {}) {
    this.python = python;
    this.affinity = affinity;
    this.isa = isa;
    this.log = log;
    this.processes = new Map(); // key -> Promise<{ process, name, isa, capped } | { error }>
    this.libraries = new Map(); // library -> what its first process said (see libraryReport)
    this.nextId = 1;
  }

  /** A started process for (library, threads, passiveWait), or an error string. */
  process(library, threads, passiveWait) {
    const key = `${library}/${threads}/${passiveWait}`;
    if (!this.processes.has(key)) {
      const started = (async () => {
        const program = peerCommand(library, this.python);
        if (program === null) return this.noteLibrary(library, { error: 'no python3 found' });
        const [command, commandArgs] = this.affinity ? this.affinity.command(threads, ...program) : program;
        const env = peerEnv(library, threads, { passiveWait, isa: this.isa });
        const peer = new PeerProcess(command, commandArgs, library, env);
        if (this.affinity && threads === 1 && peer.child.pid !== undefined) this.affinity.follow(peer.child.pid);
        try {
          const hello = await peer.request({ op: 'hello' });
          const report = { name: hello.name, isa: hello.isa ?? null, capped: hello.capped ?? null };
          if (hello.capNote) report.capNote = hello.capNote;
          return { process: peer, ...this.noteLibrary(library, report) };
        } catch (error) {
          peer.close();
          return this.noteLibrary(library, { error: error.message });
        }
      })();
      this.processes.set(key, started);
    }
    return this.processes.get(key);
  }

  /** Keeps the first report of each library (its processes differ in thread settings only) and logs a cap that
   * did not take effect; returns the report. */
  noteLibrary(library, report) {
    if (!this.libraries.has(library) || (this.libraries.get(library).error && !report.error)) {
      this.libraries.set(library, report);
      if (report.capped === false)
        this.log(
          `${library} peer NOT capped (${capsText(peerCaps(library, this.isa))}): ${report.capNote ?? report.isa}`,
        );
    }
    return report;
  }

  /** For the results: each library that was started, with the caps it was given (null: none) and what its
   * process reported: { cap, name, isa, capped, capNote? } or { cap, error }. */
  libraryReport() {
    return Object.fromEntries(
      [...this.libraries].map(([library, report]) => [library, { cap: peerCaps(library, this.isa), ...report }]),
    );
  }

  /** The candidate settings of `library` at `threads` (the process's BLAS/OpenMP threads); callThreads is what
   * the peer asks its library for per call: numpy (on OpenBLAS or BLIS) runs with exactly `threads`; torch tries
   * 1..threads intra-op threads under each OMP wait policy. */
  candidates(library, threads) {
    if (library !== 'torch') return [{ library, threads, callThreads: threads, passiveWait: false }];
    const list = [];
    for (const passiveWait of [false, true])
      for (let t = 1; t <= threads; t++) list.push({ library: 'torch', threads, callThreads: t, passiveWait });
    return list;
  }

  /** Sets the row up in every candidate setting of `library`; returns { handles } for those that work, each
   * { library, label, isa, capped, threads, processThreads, time(iters) -> Promise<ms per call>, free() }, or
   * { error } when none does. */
  async setupAll(row, library, threads) {
    const handles = [];
    let lastError = 'no candidate';
    for (const candidate of this.candidates(library, threads)) {
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
        library,
        label: `${started.name} (${settings.join(', ')})`,
        isa: started.isa,
        capped: started.capped,
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

module.exports = { PeerPool, findPython, peerEnv, peerCaps, capsText };
