// `npm run bench`: option parsing, row definitions, and the results JSON of a tiny filtered run (no timings
// are asserted: the machine is shared).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { expectError } from '../helpers';

interface Options {
  quick: boolean;
  filter: string | null;
  threads: number[];
  json: string;
  compare: boolean;
  isa: string | null;
  help: boolean;
}
interface Row {
  name: string;
  shape: string;
  unit: string;
  work: number;
  peers: string[];
  spec: { kind: string };
  endToEnd?: boolean;
  setup: unknown;
}
interface ResultRow {
  name: string;
  shape: string;
  threads: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  value: number;
  unit: string;
  ofLimit?: number;
  peer?: MeasuredPeer;
  peers?: Array<MeasuredPeer | { library: string; note: string }>;
}
/** A peer library's figure in a row; `peers` lists one per library, or its note when it has none. */
interface MeasuredPeer {
  library: string;
  name: string;
  isa: string | null;
  capped: boolean | null;
  value: number;
  ratio: number;
}
interface PeerReport {
  cap: Record<string, string> | null;
  name?: string;
  isa?: string | null;
  capped?: boolean | null;
  capNote?: string;
  error?: string;
}
interface Results {
  date: string;
  cpu: string;
  isa: string;
  isaOption: string | null;
  threads: number[];
  limits: { fmaGflops: Record<string, number>; bandwidthGBs: Record<string, number> };
  peers?: Record<string, PeerReport>;
  rows: ResultRow[];
}

const { parseArgs, nameFilter } = require('../../bench/lib/options') as {
  parseArgs: (argv: string[], defaultJson: string) => Options;
  nameFilter: (filter: string | null) => (name: string) => boolean;
};
const {
  allRows,
  attentionFlops,
  layerNormBytes,
  softmaxBytes,
  ELEMENTWISE_BYTES,
  reduceBytes,
  crossEntropyBytes,
  embeddingBytes,
  adamwBytes,
} = require('../../bench/lib/rows') as {
  allRows: () => Row[];
  attentionFlops: (s: {
    B: number;
    H: number;
    Tq: number;
    Tk: number;
    D: number;
    causal: boolean;
    backward: boolean;
  }) => number;
  layerNormBytes: (N: number, C: number) => number;
  softmaxBytes: (N: number, C: number) => number;
  ELEMENTWISE_BYTES: { add: number; unaryFwdBwd: number };
  reduceBytes: (N: number, C: number, dim: number) => number;
  crossEntropyBytes: (N: number, C: number) => number;
  embeddingBytes: (N: number, V: number, C: number) => number;
  adamwBytes: (n: number) => number;
};
interface IsaAddon {
  supportedIsas(): string[];
  getIsa(): string;
  setIsa(isa: string): void;
}
const { main, useIsa } = require('../../bench/run') as {
  main: (
    argv: string[],
    io: { out: (s: string) => void; log: (s: string) => void },
    tuning?: object,
  ) => Promise<Results | null>;
  useIsa: (addon: IsaAddon, isa: string | null, log: (s: string) => void) => void;
};
// The addon the bench loads (the same module): its ISA path before and after a run.
const { addon: isaAddon } = require('../../src/native') as { addon: IsaAddon };
interface PeerHandle {
  label: string;
  threads: number;
  time: (iters: number) => Promise<number>;
  free: () => Promise<unknown>;
}
const { PeerPool, peerEnv, peerCaps, findPython } = require('../../bench/lib/peer') as {
  PeerPool: new (python: string | null) => {
    setupAll: (row: Row, library: string, threads: number) => Promise<{ handles?: PeerHandle[]; error?: string }>;
    close: () => void;
  };
  findPython: () => string | null;
  peerEnv: (
    library: string,
    threads: number,
    options?: { passiveWait?: boolean; isa?: string | null },
    base?: Record<string, string>,
  ) => Record<string, string>;
  peerCaps: (library: string, isa: string | null) => Record<string, string> | null;
};
interface PeakRss {
  date: string;
  steps: number;
  threads: number;
  oursMiB: number;
  peer?: { name: string; MiB: number; ratio: number };
}
const serveBench = require('../../bench/serve') as {
  main: (argv: string[]) => { streams: number; oneStream: number; manyStreams: number; ratio: number };
};
const peakRss = require('../../bench/peak-rss') as {
  main: (argv: string[], out: (s: string) => void) => Promise<PeakRss>;
  parseArgs: (argv: string[]) => { steps: number; json: string | null; side: string | null };
};
const { Affinity, affinityList, expandCpus } = require('../../bench/lib/affinity') as {
  Affinity: new () => {
    single: string | null;
    pinSelf(threads: number): void;
    restore(): void;
    command(threads: number, command: string, args: string[]): [string, string[]];
    follow(pid: number): void;
    chooseFastest(probe: () => number): string | null;
  };
  affinityList: (pid: number) => string | null;
  expandCpus: (list: string) => string[];
};
// Short limit measurements keep each run at a fraction of a second.
const FAST_LIMITS = { limitAttempts: 1, fmaSeconds: 0.01, bandwidthBytes: 1 << 22, bandwidthRepeats: 2 };

describe('bench options', () => {
  test('defaults and every option', () => {
    expect(parseArgs([], 'r.json')).toEqual({
      quick: false,
      filter: null,
      threads: [1, 2],
      json: 'r.json',
      compare: false,
      isa: null,
      help: false,
    });
    expect(
      parseArgs(
        ['--quick', '--filter', 'gemm NN', '--threads', '2,1,2', '--json', 'out.json', '--compare', '--isa', 'avx2'],
        'r.json',
      ),
    ).toEqual({
      quick: true,
      filter: 'gemm NN',
      threads: [1, 2],
      json: 'out.json',
      compare: true,
      isa: 'avx2',
      help: false,
    });
    for (const isa of ['generic', 'avx2', 'avx512']) expect(parseArgs(['--isa', isa], 'r.json').isa).toBe(isa);
  });

  test('bad options throw and name the option', () => {
    expectError(() => parseArgs(['--fast'], 'r.json'), 'TypeError', /bench: unknown option '--fast'/);
    expectError(() => parseArgs(['--filter'], 'r.json'), 'TypeError', /--filter needs a value/);
    expectError(() => parseArgs(['--json', '--quick'], 'r.json'), 'TypeError', /--json needs a value/);
    expectError(() => parseArgs(['--threads', '1,x'], 'r.json'), 'RangeError', /--threads .* got '1,x'/);
    expectError(() => parseArgs(['--threads', '0'], 'r.json'), 'RangeError', /--threads/);
    expectError(
      () => parseArgs(['--isa', 'sse4'], 'r.json'),
      'RangeError',
      /bench: --isa expects generic, avx2, avx512, got 'sse4'/,
    );
    expectError(() => parseArgs(['--isa', 'AVX2'], 'r.json'), 'RangeError', /got 'AVX2'/);
    expectError(() => parseArgs(['--isa'], 'r.json'), 'TypeError', /--isa needs a value/);
    expectError(() => parseArgs(['--isa', '--compare'], 'r.json'), 'TypeError', /--isa needs a value/);
  });

  test('--isa: a path this CPU does not run is an error; without --isa ours keeps the path chosen at load', () => {
    const calls: string[] = [];
    const logs: string[] = [];
    const avx2Only: IsaAddon = {
      supportedIsas: () => ['generic', 'avx2'],
      getIsa: () => 'avx2',
      setIsa: (isa) => calls.push(isa),
    };
    expectError(
      () => useIsa(avx2Only, 'avx512', (s) => logs.push(s)),
      'RangeError',
      /--isa avx512: this CPU runs only generic, avx2/,
    );
    useIsa(avx2Only, 'generic', (s) => logs.push(s));
    useIsa(avx2Only, null, (s) => logs.push(s));
    expect(calls).toEqual(['generic']);
    expect(logs).toEqual([]); // avx2 is the widest here: the plain run is the avx2 run
    useIsa({ ...avx2Only, getIsa: () => 'generic' }, null, (s) => logs.push(s));
    expect(logs).toEqual(['ours runs generic, not avx2, with the peers uncapped: --isa generic caps them too']);
  });

  test('filter: substring (even with regex characters) or case-insensitive regex', () => {
    expect(nameFilter('128^3')('gemm NN 128^3')).toBe(true);
    expect(nameFilter('128^3')('gemm NN 256^3')).toBe(false);
    expect(nameFilter('^gemm (NT|TN) 512')('gemm TN 512^3')).toBe(true);
    expect(nameFilter('^gemm (NT|TN) 512')('gemm NN 512^3')).toBe(false);
    expect(nameFilter('LAYERNORM')('layernorm fwd+bwd 1536x256')).toBe(true);
    expect(nameFilter('fwd+bwd')('attention fwd+bwd B8 H6 T256 D64')).toBe(true);
    expect(nameFilter(null)('anything')).toBe(true);
  });
});

describe('bench peer environment', () => {
  // Kernel choices inherited from the shell (old-CPU workarounds, a forced torch path) that no peer may keep.
  const base = {
    PATH: '/bin',
    OPENBLAS_CORETYPE: 'Zen',
    OPENBLAS_L2_SIZE: '524288',
    BLIS_ARCH_TYPE: '0',
    ATEN_CPU_CAPABILITY: 'avx512',
    OMP_WAIT_POLICY: 'ACTIVE',
  };
  const threadVariables = (t: string) => ({
    OPENBLAS_NUM_THREADS: t,
    BLIS_NUM_THREADS: t,
    OMP_NUM_THREADS: t,
    MKL_NUM_THREADS: t,
  });
  const libraries = ['numpy', 'blis', 'torch'];

  test('without --isa every peer runs uncapped: inherited kernel choices removed, thread counts fixed', () => {
    for (const library of libraries) {
      expect(peerEnv(library, 2, {}, base)).toEqual({ PATH: '/bin', ...threadVariables('2') });
      expect(peerEnv(library, 2, { isa: null }, base)).toEqual({ PATH: '/bin', ...threadVariables('2') });
      expect(peerCaps(library, null)).toBeNull();
    }
    expect(peerEnv('torch', 1, { passiveWait: true }, base)).toEqual({
      PATH: '/bin',
      ...threadVariables('1'),
      OMP_WAIT_POLICY: 'PASSIVE',
    });
  });

  test('each --isa caps each peer library to the same instruction set', () => {
    const caps: Record<string, Record<string, Record<string, string>>> = {
      generic: {
        numpy: { OPENBLAS_CORETYPE: 'Prescott' },
        blis: { BLIS_ARCH_TYPE: 'generic' },
        torch: { ATEN_CPU_CAPABILITY: 'default', OPENBLAS_CORETYPE: 'Prescott' },
      },
      avx2: {
        numpy: { OPENBLAS_CORETYPE: 'Haswell' },
        blis: { BLIS_ARCH_TYPE: 'haswell' },
        torch: { ATEN_CPU_CAPABILITY: 'avx2', OPENBLAS_CORETYPE: 'Haswell' },
      },
      // OpenBLAS and BLIS pick their widest kernels themselves; torch 1.13 runs avx2 unless asked for avx512.
      avx512: { numpy: {}, blis: {}, torch: { ATEN_CPU_CAPABILITY: 'avx512' } },
    };
    for (const [isa, byLibrary] of Object.entries(caps)) {
      for (const library of libraries) {
        const expected = byLibrary[library];
        expect({ isa, library, env: peerEnv(library, 1, { isa }, base) }).toEqual({
          isa,
          library,
          env: { PATH: '/bin', ...threadVariables('1'), ...expected },
        });
        expect(peerCaps(library, isa)).toEqual(Object.keys(expected).length > 0 ? expected : null);
      }
    }
    expect(peerEnv('torch', 2, { passiveWait: true, isa: 'avx2' }, base)).toEqual({
      PATH: '/bin',
      ...threadVariables('2'),
      OMP_WAIT_POLICY: 'PASSIVE',
      ATEN_CPU_CAPABILITY: 'avx2',
      OPENBLAS_CORETYPE: 'Haswell',
    });
  });

  test('where Python and the libraries are installed, the real peers report the avx2 caps as taken', () => {
    const python = findPython();
    if (python === null || !isaAddon.supportedIsas().includes('avx2')) return;
    const script = path.join(__dirname, '..', '..', 'bench', 'peers', 'peer.py');
    const hello = (library: string) => {
      const child = spawnSync(python, [script, library], {
        input: '{"op": "hello"}\n',
        env: peerEnv(library, 1, { isa: 'avx2' }),
        encoding: 'utf8',
        timeout: 60_000,
      });
      const line = child.stdout.split('\n')[0];
      return line ? (JSON.parse(line) as { ok: boolean; name?: string; isa?: string; capped?: boolean }) : null;
    };
    const numpy = hello('numpy');
    if (numpy?.ok && numpy.name!.includes('OpenBLAS'))
      expect([numpy.isa, numpy.capped]).toEqual(['OpenBLAS Haswell', true]);
    const blis = hello('blis'); // not ok where BLIS is not installed
    if (blis?.ok) expect([blis.isa, blis.capped]).toEqual(['BLIS haswell', true]);
    const torch = hello('torch');
    if (torch?.ok) expect(torch.isa).toMatch(/^ATen AVX2, /);
    if (torch?.ok && torch.isa!.includes('OpenBLAS')) expect(torch.capped).toBe(true);
  }, 120_000);

  test("the base environment defaults to this process's, which stays unchanged", () => {
    const before = { ...process.env };
    const env = peerEnv('numpy', 3, { isa: 'avx2' });
    expect(process.env).toEqual(before);
    expect(env.PATH).toBe(process.env.PATH);
    expect(env.OPENBLAS_NUM_THREADS).toBe('3');
    expect(env.OPENBLAS_CORETYPE).toBe('Haswell');
  });
});

describe('bench rows', () => {
  const rows = allRows();
  const names = rows.map((r) => r.name);

  test('names are unique and cover the required families', () => {
    expect(new Set(names).size).toBe(names.length);
    for (const layout of ['NN', 'NT', 'TN']) {
      for (const n of [128, 256, 512, 1024, 2048]) expect(names).toContain(`gemm ${layout} ${n}^3`);
      for (const s of ['4096x256x1024', '4096x1024x256', 'heads 64x24x24x32', 'heads 64x24x32x24'])
        expect(names).toContain(`gemm ${layout} ${s}`);
    }
    for (const pass of ['fwd', 'fwd+bwd']) {
      expect(names).toContain(`attention ${pass} B8 H6 T256 D64`);
      expect(names).toContain(`attention ${pass} B8 H6 T256 D64 causal`);
    }
    for (const shape of ['1536x256', '2048x384', '8192x1024']) {
      expect(names).toContain(`layernorm fwd+bwd ${shape}`);
      expect(names).toContain(`softmax fwd+bwd ${shape}`);
    }
    for (const name of [
      'elementwise add 1536x1024',
      'elementwise add 384',
      'elementwise gelu fwd+bwd 1536x1024',
      'reduce sum 1536x1024 dim 1',
      'reduce sum 1536x1024 dim 0',
      'copy permute BTHD->BHTD 8x256x6x64',
      'crossentropy fwd+bwd 1536x64',
      'crossentropy fwd+bwd 2048x256',
      'embedding fwd+bwd 1536 ids 64x256',
      'embedding fwd+bwd 2048 ids 256x384',
      'random dropout 1536x1024 p=0.1',
      'random normal 1536x1024',
      'adamw step 5.6M',
    ])
      expect(names).toContain(name);
    const endToEnd = rows.filter((r) => r.endToEnd);
    const kinds = (prefix: string) =>
      endToEnd
        .filter((r) => r.name.startsWith(prefix))
        .map((r) => r.spec.kind)
        .sort();
    expect(kinds('e2e ')).toEqual(['gptGenerate', 'gptStep', 'seedStep']);
    for (const r of endToEnd) expect(r.unit).toBe(r.name.startsWith('tokenizer ') ? 'MB/s' : 'tokens/s');
    // Inference against onnxruntime-node: the bench GPT forward and generation, and a classifier forward.
    for (const name of [
      'inference gpt forward B8 T256',
      'inference classifier forward B32 T128',
      'inference gpt generate 200 from 16',
    ])
      expect(rows.find((r) => r.name === name)?.peers).toEqual(['onnxruntime']);
    expect(kinds('inference ')).toEqual(['classifierForward', 'gptForward', 'gptGenerate']);
    // Tokenizer encoding against HF's Rust tokenizers, with and without offsets.
    expect(kinds('tokenizer ')).toEqual(['tokenizerEncode', 'tokenizerEncode']);
  });

  test('each kernel row is named after its family, and every kernel family has a row', () => {
    // A family is a native/addon/<family>_binding.cc; peak is the bench's own limits, not a row.
    const root = path.join(__dirname, '..', '..');
    const families = fs
      .readdirSync(path.join(root, 'native', 'addon'))
      .map((file) => /^(\w+)_binding\.cc$/.exec(file)?.[1])
      .filter((family): family is string => family !== undefined && family !== 'peak');
    expect(families.length).toBeGreaterThanOrEqual(11);
    for (const family of families) {
      for (const file of [`src/ops/${family}.ts`, `native/cpu/${family}.cc`, `test/kernels/${family}.test.ts`])
        expect({ family, file, exists: fs.existsSync(path.join(root, file)) }).toEqual({ family, file, exists: true });
    }
    const kernelRows = rows.filter((r) => !r.endToEnd);
    const familyOf = (row: Row) => row.name.split(' ')[0];
    expect(kernelRows.map(familyOf).filter((family) => !families.includes(family))).toEqual([]);
    const withRows = new Set(kernelRows.map(familyOf));
    expect(families.filter((family) => !withRows.has(family))).toEqual([]);
    for (const row of rows.filter((r) => r.endToEnd)) expect(row.name).toMatch(/^(e2e|inference|tokenizer) /);
  });

  test('every row kind has a peer builder', () => {
    const peers = path.join(__dirname, '..', '..', 'bench', 'peers');
    const python = fs.readFileSync(path.join(peers, 'peer.py'), 'utf8');
    const onnxruntime = fs.readFileSync(path.join(peers, 'onnxruntime.js'), 'utf8');
    const tokenizers = fs.readFileSync(path.join(peers, 'hf-tokenizers.js'), 'utf8');
    for (const row of rows) {
      if (row.peers.includes('onnxruntime')) expect(onnxruntime).toContain(`  async ${row.spec.kind}(spec`);
      else if (row.peers.includes('hf-tokenizers')) expect(tokenizers).toContain(`'${row.spec.kind}'`);
      else expect(python).toContain(`"${row.spec.kind}":`);
    }
  });

  test('each kernel row runs exactly the kernels its name says, with its shape', () => {
    // A stand-in addon records kernel calls instead of running them (storages stay real).

    const { addon } = require('../../src/native') as { addon: { Storage: unknown } };
    let calls: Array<{ kernel: string; args: unknown[] }> = [];
    const recorder = new Proxy(
      {},
      {
        get: (_target, kernel: string) =>
          kernel === 'Storage'
            ? addon.Storage
            : (...args: unknown[]) => {
                calls.push({ kernel, args });
              },
      },
    );
    const expected: Record<string, string[]> = {
      gemm: ['gemm'],
      attention: ['attentionForward'],
      layernorm: ['layerNormForward', 'layerNormBackward'],
      softmax: ['softmaxForward', 'softmaxBackward'],
      binary: ['binary'],
      unaryFwdBwd: ['unary', 'unaryBackward'],
      reduce: ['reduce'],
      permute: ['copyStrided'],
      crossentropy: ['crossEntropyForward', 'crossEntropyBackward'],
      embedding: ['embeddingForward', 'fill', 'embeddingBackward'],
      dropout: ['dropout'],
      normal: ['randomFill'],
      adamw: ['adamwStep'],
    };
    // The bytes a row counts, from the sizes its first kernel call is given (raw positional arguments).
    const product = (shape: unknown) => (shape as number[]).reduce((a, b) => a * b, 1);
    const workOf: Record<string, (args: unknown[]) => number> = {
      binary: (args) => ELEMENTWISE_BYTES.add * product(args[8]),
      unaryFwdBwd: (args) => ELEMENTWISE_BYTES.unaryFwdBwd * (args[3] as number),
      reduce: (args) => {
        const [outer, dim, inner] = args.slice(4, 7) as number[];
        return 4 * (outer * dim * inner + outer * inner);
      },
      permute: (args) => 8 * product(args[6]),
      crossentropy: (args) => crossEntropyBytes(args[4] as number, args[5] as number),
      embedding: (args) => embeddingBytes(args[3] as number, args[4] as number, args[5] as number),
      dropout: (args) => 8 * (args[2] as number),
      normal: (args) => 4 * (args[1] as number),
      adamw: (args) => adamwBytes(args[4] as number),
    };
    for (const row of rows.filter((r) => !r.endToEnd)) {
      const impl = (row.setup as (a: unknown) => { run: () => void; dispose: () => void })(recorder);
      calls = [];
      impl.run();
      impl.dispose();
      const spec = row.spec as Record<string, number | boolean | string>;
      const kernels =
        spec.kind === 'attention' && spec.backward
          ? ['attentionForward', 'attentionBackward']
          : expected[spec.kind as string];
      expect({ row: row.name, kernels: calls.map((c) => c.kernel) }).toEqual({ row: row.name, kernels });
      if (spec.kind === 'gemm') {
        // gemm(a, aOff, b, bOff, c, cOff, bias, biasOff, transA, transB, M, N, K, batch, ...)
        const [transA, transB, M, N, K, batch] = calls[0].args.slice(8, 14);
        expect(row.name.split(' ')[1]).toBe(`${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
        expect(row.work).toBe(2 * (M as number) * (N as number) * (K as number) * (batch as number));
      }
      if (spec.kind === 'attention') {
        const [B, H, Tq, Tk, D] = calls[0].args.slice(6, 11);
        expect({ B, H, Tq, Tk, D }).toEqual({ B: spec.B, H: spec.H, Tq: spec.Tq, Tk: spec.Tk, D: spec.D });
        expect(calls[0].args[16]).toBe(spec.causal);
      }
      const work = workOf[spec.kind as string];
      if (work !== undefined)
        expect({ row: row.name, work: row.work }).toEqual({ row: row.name, work: work(calls[0].args) });
    }
  });

  test('each kernel row sets up, runs once and disposes on the real addon', () => {
    const { addon } = require('../../src/native') as { addon: unknown };
    for (const row of rows.filter((r) => !r.endToEnd)) {
      const impl = (row.setup as (a: unknown) => { run: () => void; dispose: () => void })(addon);
      try {
        expect(() => impl.run()).not.toThrow();
      } finally {
        impl.dispose();
      }
    }
  });

  test('the tokenizer rows encode the same ids as HF, and their peer process times a call', async () => {
    const pkg = require('../../src') as {
      loadTokenizer: (file: string) => { encodeBatch: (t: string[]) => number[][] };
    };
    const { tokenizerFixture } = require('../../bench/lib/tokenizer') as {
      tokenizerFixture: (spec: unknown) => { lines: string[]; bytes: number; file: string };
    };
    const hf = require('@anush008/tokenizers') as typeof import('@anush008/tokenizers');
    const pool = new PeerPool(null);
    try {
      for (const row of rows.filter((r) => r.spec.kind === 'tokenizerEncode')) {
        const setup = row.setup as (a: unknown, p: unknown, s: unknown) => { run: () => unknown };
        const output = setup(null, pkg, row.spec).run() as Array<number[] | { ids: number[] }>;
        expect(row.work).toBeGreaterThan(1e6);
        const { lines, file } = tokenizerFixture(row.spec);
        const sample = [0, 1, lines.length - 1];
        const reference = await hf.Tokenizer.fromFile(file).encodeBatch(sample.map((i) => lines[i]));
        const ids = sample.map((i) => (Array.isArray(output[i]) ? output[i] : (output[i] as { ids: number[] }).ids));
        expect(ids).toEqual(reference.map((e) => e.getIds()));
        const { handles, error } = await pool.setupAll(row, 'hf-tokenizers', 1);
        expect(error).toBeUndefined();
        expect(await handles![0].time(1)).toBeGreaterThan(0);
        await handles![0].free();
      }
    } finally {
      pool.close();
    }
  }, 180_000);

  test('work counts', () => {
    const base = { B: 2, H: 3, Tq: 5, Tk: 7, D: 11 };
    expect(attentionFlops({ ...base, causal: false, backward: false })).toBe(4 * 2 * 3 * 5 * 7 * 11);
    expect(attentionFlops({ ...base, causal: true, backward: false })).toBe(2 * 2 * 3 * 5 * 7 * 11);
    expect(attentionFlops({ ...base, causal: false, backward: true })).toBe(3.5 * 4 * 2 * 3 * 5 * 7 * 11);
    expect(softmaxBytes(3, 4)).toBe(5 * 12 * 4);
    expect(layerNormBytes(3, 4)).toBe(4 * (6 * 12 + 5 * 4 + 4 * 3));
    expect(reduceBytes(3, 4, 1)).toBe(4 * (12 + 3));
    expect(reduceBytes(3, 4, 0)).toBe(4 * (12 + 4));
    expect(crossEntropyBytes(3, 4)).toBe(4 * (3 * 12 + 6 * 3));
    expect(embeddingBytes(3, 5, 4)).toBe(4 * (2 * 3 + 3 * 12 + 5 * 4));
    expect(adamwBytes(3)).toBe(7 * 3 * 4);
    expect(rows.find((r) => r.name === 'gemm NT 4096x256x1024')!.work).toBe(2 * 4096 * 256 * 1024);
    expect(rows.find((r) => r.name === 'gemm TN heads 64x24x32x24')!.work).toBe(2 * 64 * 24 * 32 * 24);
  });
});

describe('the onnxruntime-node peer', () => {
  test('runs each inference row kind on small sizes, without Python, at the thread count asked', async () => {
    const gpt = { vocab: 16, context: 8, dModel: 16, heads: 2, layers: 1, ff: 32, dropout: 0, batch: 2 };
    const specs = [
      { kind: 'gptForward', ...gpt },
      { kind: 'gptGenerate', ...gpt, batch: 1, prompt: 3, newTokens: 4 },
      {
        kind: 'classifierForward',
        vocab: 16,
        classes: 2,
        dModel: 16,
        heads: 2,
        layers: 1,
        ff: 32,
        maxLen: 8,
        batch: 2,
        length: 8,
      },
    ];
    const pool = new PeerPool(null);
    try {
      for (const [i, spec] of specs.entries()) {
        const row = { name: `r${i}`, shape: '', unit: 'tokens/s', work: 1, peers: ['onnxruntime'], spec, setup: null };
        const threads = 1 + (i % 2);
        const { handles, error } = await pool.setupAll(row, 'onnxruntime', threads);
        expect(error).toBeUndefined();
        expect(handles!.map((h) => [h.label, h.threads])).toEqual([
          [expect.stringMatching(new RegExp(`^onnxruntime-node 1\\.30\\.0 .*\\(${threads} threads?\\)$`)), threads],
        ]);
        expect(await handles![0].time(2)).toBeGreaterThan(0);
        await handles![0].free();
      }
      const unknown = {
        name: 'x',
        shape: '',
        unit: 'tokens/s',
        work: 1,
        peers: ['onnxruntime'],
        spec: { kind: 'gemm' },
        setup: null,
      };
      expect((await pool.setupAll(unknown, 'onnxruntime', 1)).error).toMatch(
        /no onnxruntime builder for row kind 'gemm'/,
      );
    } finally {
      pool.close();
    }
  }, 60_000);
});

describe('bench run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const silent = () => {
    const out: string[] = [];
    return { out, io: { out: (s: string) => out.push(s), log: () => undefined } };
  };

  test('a tiny filtered run writes the results schema', async () => {
    const json = path.join(dir, 'results.json');
    const { out, io } = silent();
    const results = await main(
      ['--quick', '--filter', '^(gemm NN 128\\^3|softmax fwd\\+bwd 1536x256)$', '--threads', '1', '--json', json],
      io,
      FAST_LIMITS,
    );
    expect(results).not.toBeNull();
    const written = JSON.parse(fs.readFileSync(json, 'utf8')) as Results;
    expect(written).toEqual(results);
    expect(Object.keys(written)).toEqual(['date', 'cpu', 'isa', 'isaOption', 'threads', 'limits', 'rows']);
    expect(Number.isNaN(Date.parse(written.date))).toBe(false);
    // No --isa: ours on the path chosen at load (the widest this CPU runs), no peer caps.
    expect(written.isa).toBe(isaAddon.getIsa());
    expect(written.isaOption).toBeNull();
    expect(written.cpu).toContain(`kernels: ${written.isa}`);
    expect(written.threads).toEqual([1]);
    for (const limit of [written.limits.fmaGflops, written.limits.bandwidthGBs]) {
      expect(Object.keys(limit).sort()).toEqual(['1', '2']);
      for (const v of Object.values(limit)) expect(v).toBeGreaterThan(0);
    }
    expect(written.rows.map((r) => r.name)).toEqual(['gemm NN 128^3', 'softmax fwd+bwd 1536x256']);
    for (const row of written.rows) {
      expect(Object.keys(row)).toEqual([
        'name',
        'shape',
        'threads',
        'medianMs',
        'minMs',
        'maxMs',
        'value',
        'unit',
        'ofLimit',
      ]);
      expect(row.threads).toBe(1);
      expect(row.minMs).toBeGreaterThan(0);
      expect(row.minMs).toBeLessThanOrEqual(row.medianMs);
      expect(row.medianMs).toBeLessThanOrEqual(row.maxMs);
      expect(row.ofLimit).toBeGreaterThan(0);
    }
    const [gemm, softmax] = written.rows;
    expect(gemm.unit).toBe('GFLOP/s');
    expect(gemm.value).toBeCloseTo((2 * 128 ** 3) / (gemm.medianMs / 1000) / 1e9, 6);
    expect(gemm.ofLimit).toBeCloseTo(gemm.value / written.limits.fmaGflops['1'], 9);
    expect(softmax.unit).toBe('GB/s');
    expect(softmax.ofLimit).toBeCloseTo(softmax.value / written.limits.bandwidthGBs['1'], 9);
    const table = out.join('\n');
    expect(table).toContain('| gemm NN 128^3 | 128x128x128 | 1 |');
    expect(table).toContain(`CPU: ${written.cpu}`);
    expect(table).toContain(`ISA: ours ${written.isa} (no --isa`);
    expect(fs.readdirSync(dir)).toEqual(['results.json']); // no temporary file left behind
  });

  test('--isa runs ours on that path (the CPU line and the JSON name it) and restores the path after', async () => {
    const before = isaAddon.getIsa();
    for (const isa of isaAddon.supportedIsas()) {
      const { out, io } = silent();
      const results = await main(
        [
          '--quick',
          '--isa',
          isa,
          '--filter',
          '^gemm NN 128\\^3$',
          '--threads',
          '1',
          '--json',
          path.join(dir, 'isa.json'),
        ],
        io,
        FAST_LIMITS,
      );
      expect({ isa: results!.isa, option: results!.isaOption }).toEqual({ isa, option: isa });
      expect(results!.cpu).toContain(`kernels: ${isa}`);
      expect(out.join('\n')).toContain(
        `ISA: ours ${isa} (--isa ${isa}); peers capped to the same instruction set where`,
      );
      expect(isaAddon.getIsa()).toBe(before);
    }
  });

  async function withPython<T>(python: string, fn: () => Promise<T>): Promise<T> {
    const saved = process.env.BENCH_PYTHON;
    process.env.BENCH_PYTHON = python;
    try {
      return await fn();
    } finally {
      if (saved === undefined) delete process.env.BENCH_PYTHON;
      else process.env.BENCH_PYTHON = saved;
    }
  }

  /** A quick --compare run of the rows `filter` selects on 1 thread, with `python` as the peers' Python and `extra`
   * options: the results, the table and the log. */
  async function compareRun(python: string, filter: string, extra: string[] = []) {
    const argv = [
      '--quick',
      '--compare',
      ...extra,
      '--filter',
      filter,
      '--threads',
      '1',
      '--json',
      path.join(dir, 'c.json'),
    ];
    const out: string[] = [];
    const logs: string[] = [];
    const io = { out: (s: string) => out.push(s), log: (s: string) => logs.push(s) };
    const results = (await withPython(python, () => main(argv, io, FAST_LIMITS)))!;
    return { results, table: out.join('\n'), log: logs.join('\n') };
  }

  test('--compare without Python says "peer unavailable" and writes no peer fields', async () => {
    const { out, io } = silent();
    const results = await withPython(path.join(dir, 'no-such-python'), () =>
      main(
        [
          '--quick',
          '--compare',
          '--filter',
          'gemm TN 128^3',
          '--threads',
          '2',
          '--json',
          path.join(dir, 'compare.json'),
        ],
        io,
        FAST_LIMITS,
      ),
    );
    expect(results!.rows).toHaveLength(1);
    expect(results!.rows[0].peer).toBeUndefined();
    expect(results!.rows[0].threads).toBe(2);
    expect(results!.peers).toEqual({
      numpy: { cap: null, error: 'no python3 found' },
      blis: { cap: null, error: 'no python3 found' },
    });
    expect(out.join('\n')).toMatch(/\| gemm TN 128\^3 \|.*\| peer unavailable \|/);
  });

  const HELLO = 'echo \'{"ok": true, "name": "fake 1.0"}\'';

  /** A stand-in for python3 that speaks the peer protocol from a shell script: `timeReply` answers each 'time',
   * `helloReply` each 'hello' (shell commands; $2 is the peer library, the environment the peer's). */
  function fakePython(name: string, timeReply: string, helloReply = HELLO): string {
    const file = path.join(dir, name);
    fs.writeFileSync(
      file,
      [
        '#!/bin/sh',
        'if [ "$1" = "-c" ]; then echo 3; exit 0; fi',
        'while read -r line; do',
        '  case "$line" in',
        `    *\\"hello\\"*) ${helloReply} ;;`,
        `    *\\"time\\"*) ${timeReply} ;;`,
        '    *\\"maxrss\\"*) echo \'{"ok": true, "maxRssKiB": 1048576}\' ;;',
        '    *) echo \'{"ok": true}\' ;;',
        '  esac',
        'done',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    return file;
  }

  test("--compare records each peer's name, throughput and ours/peer ratio", async () => {
    const python = fakePython('python-ok', 'echo \'{"ok": true, "ms": 2}\'');
    const { results, table } = await compareRun(python, '^(gemm NN 256\\^3|softmax fwd\\+bwd 1536x256)$');
    expect(Object.keys(results)).toEqual(['date', 'cpu', 'isa', 'isaOption', 'threads', 'limits', 'peers', 'rows']);
    // The fake reports no path: capped null, as for an uncapped peer.
    const fake = { cap: null, name: 'fake 1.0', isa: null, capped: null };
    expect(results.peers).toEqual({ numpy: fake, blis: fake, torch: fake });
    const [gemm, softmax] = results.rows;
    const keys = ['name', 'shape', 'threads', 'medianMs', 'minMs', 'maxMs', 'value', 'unit', 'ofLimit', 'peer'];
    expect(Object.keys(gemm)).toEqual([...keys, 'peers']); // GEMM: OpenBLAS and BLIS
    expect(Object.keys(softmax)).toEqual(keys); // one peer library: no list
    expect(Object.keys(gemm.peer!)).toEqual(['library', 'name', 'isa', 'capped', 'value', 'ratio']);
    expect(gemm.peer!.library).toBe('numpy'); // a tie keeps the first
    expect(gemm.peer!.name).toBe('fake 1.0 (1 thread)');
    expect(gemm.peer!.value).toBeCloseTo((2 * 256 ** 3) / 0.002 / 1e9, 9);
    expect(gemm.peer!.ratio).toBeCloseTo(gemm.value / gemm.peer!.value, 9);
    expect(gemm.peers!.map((p) => p.library)).toEqual(['numpy', 'blis']);
    for (const p of gemm.peers! as MeasuredPeer[]) expect(p.ratio).toBeCloseTo(gemm.value / p.value, 9);
    expect(softmax.peer!.library).toBe('torch');
    expect(table).toMatch(/\| gemm NN 256\^3 \|.*\| fake 1t \(fake 1t 16\.8\) \| 16\.8 \| [\d.]+x \|/);
    expect(table).toMatch(/\| softmax fwd\+bwd 1536x256 \|.*\| fake 1t \| [\d.]+ \| [\d.]+x \|/);
  });

  test('GEMM rows take the ratio against the faster of OpenBLAS and BLIS, and record both', async () => {
    for (const [faster, slower] of [
      ['blis', 'numpy'],
      ['numpy', 'blis'],
    ]) {
      const python = fakePython(
        `python-${faster}-faster`,
        `if [ "$2" = ${faster} ]; then echo '{"ok": true, "ms": 1}'; else echo '{"ok": true, "ms": 4}'; fi`,
        'echo "{\\"ok\\": true, \\"name\\": \\"fake $2\\"}"',
      );
      const { results, table } = await compareRun(python, 'gemm NN 128^3');
      const row = results.rows[0];
      const value = (ms: number) => (2 * 128 ** 3) / (ms / 1000) / 1e9;
      expect(row.peer!.library).toBe(faster);
      expect(row.peer!.name).toBe(`fake ${faster} (1 thread)`);
      expect(row.peer!.value).toBeCloseTo(value(1), 6);
      expect(row.peer!.ratio).toBeCloseTo(row.value / value(1), 9);
      const byLibrary = Object.fromEntries((row.peers! as MeasuredPeer[]).map((p) => [p.library, p]));
      expect(byLibrary[slower].value).toBeCloseTo(value(4), 6);
      expect(byLibrary[slower].ratio).toBeCloseTo(row.value / value(4), 9);
      expect(byLibrary[faster]).toEqual(row.peer);
      expect(table).toContain('| fake 1t (fake 1t 1.05) | 4.19 |'); // 2*128^3 flops in 4 ms and 1 ms
    }
  });

  test('BLIS missing: "peer unavailable" for that peer only', async () => {
    const python = fakePython(
      'python-no-blis',
      'echo \'{"ok": true, "ms": 2}\'',
      'if [ "$2" = blis ]; then echo \'{"ok": false, "error": "RuntimeError: numpy does not run on BLIS here"}\'; ' +
        'else echo \'{"ok": true, "name": "numpy 1.0 + OpenBLAS 0.3 Haswell"}\'; fi',
    );
    const { results, table, log } = await compareRun(python, 'gemm TN 256^3');
    const row = results.rows[0];
    expect(row.peer!.library).toBe('numpy');
    expect(row.peer!.ratio).toBeCloseTo(row.value / row.peer!.value, 9);
    expect(row.peers).toEqual([row.peer, { library: 'blis', note: 'peer unavailable' }]);
    expect(results.peers!.blis).toEqual({
      cap: null,
      error: 'blis peer: RuntimeError: numpy does not run on BLIS here',
    });
    expect(results.peers!.numpy.name).toBe('numpy 1.0 + OpenBLAS 0.3 Haswell');
    expect(log).toContain('gemm TN 256^3 [1t]: blis peer unavailable');
    expect(table).toMatch(/\| gemm TN 256\^3 \|.*\| OpenBLAS 1t \(blis unavailable\) \| 16\.8 \| [\d.]+x \|/);
  });

  test('--compare --isa avx2: each peer process gets its caps, and the JSON and table say whether they held', async () => {
    if (!isaAddon.supportedIsas().includes('avx2')) return; // ours cannot run avx2 here
    // The fake reports the caps it was started with; its BLIS says it picked another path.
    const python = fakePython(
      'python-caps',
      'echo \'{"ok": true, "ms": 2}\'',
      'if [ "$2" = blis ]; then echo "{\\"ok\\": true, \\"name\\": \\"fake blis\\", \\"isa\\": \\"BLIS zen3\\", ' +
        '\\"capped\\": false, \\"capNote\\": \\"BLIS_ARCH_TYPE=$BLIS_ARCH_TYPE but it runs zen3\\"}"; ' +
        'else echo "{\\"ok\\": true, \\"name\\": \\"fake $2\\", \\"isa\\": \\"$OPENBLAS_CORETYPE $ATEN_CPU_CAPABILITY\\", ' +
        '\\"capped\\": true}"; fi',
    );
    const { results, table, log } = await compareRun(python, '^(gemm NN 128\\^3|softmax fwd\\+bwd 1536x256)$', [
      '--isa',
      'avx2',
    ]);
    expect(results.isa).toBe('avx2');
    expect(results.isaOption).toBe('avx2');
    expect(results.peers).toEqual({
      numpy: { cap: { OPENBLAS_CORETYPE: 'Haswell' }, name: 'fake numpy', isa: 'Haswell ', capped: true },
      blis: {
        cap: { BLIS_ARCH_TYPE: 'haswell' },
        name: 'fake blis',
        isa: 'BLIS zen3',
        capped: false,
        capNote: 'BLIS_ARCH_TYPE=haswell but it runs zen3',
      },
      torch: {
        cap: { ATEN_CPU_CAPABILITY: 'avx2', OPENBLAS_CORETYPE: 'Haswell' },
        name: 'fake torch',
        isa: 'Haswell avx2',
        capped: true,
      },
    });
    const [gemm, softmax] = results.rows;
    expect(Object.fromEntries((gemm.peers! as MeasuredPeer[]).map((p) => [p.library, [p.isa, p.capped]]))).toEqual({
      numpy: ['Haswell ', true],
      blis: ['BLIS zen3', false],
    });
    expect([softmax.peer!.isa, softmax.peer!.capped]).toEqual(['Haswell avx2', true]);
    expect(log).toContain('blis peer NOT capped (BLIS_ARCH_TYPE=haswell): BLIS_ARCH_TYPE=haswell but it runs zen3');
    expect(table).toContain('kernels: avx2)');
    expect(table).toContain('ISA: ours avx2 (--isa avx2); peers capped to the same instruction set where');
    expect(table).toContain('- fake numpy [Haswell ]: OPENBLAS_CORETYPE=Haswell: took effect');
    expect(table).toContain(
      '- fake blis [BLIS zen3]: BLIS_ARCH_TYPE=haswell: NOT capped (BLIS_ARCH_TYPE=haswell but it runs zen3)',
    );
    expect(table).toContain(
      '- fake torch [Haswell avx2]: ATEN_CPU_CAPABILITY=avx2, OPENBLAS_CORETYPE=Haswell: took effect',
    );
  });

  test('a peer that dies mid-row drops out of that row only', async () => {
    const python = fakePython('python-dies', 'exit 1');
    const { results, table } = await compareRun(python, 'gemm NT 128^3');
    expect(results.rows).toHaveLength(1);
    expect(results.rows[0].peer).toBeUndefined();
    expect(results.rows[0].value).toBeGreaterThan(0);
    expect(table).toMatch(/\| gemm NT 128\^3 \|.*\| peer failed \|/);
  });

  test("peak-rss: our training process and the peer's peak RSS in MiB, and theirs / ours", async () => {
    const python = fakePython('python-rss', 'echo \'{"ok": true, "ms": 2}\'');
    const out: string[] = [];
    const json = path.join(dir, 'rss.json');
    const result = await withPython(python, () =>
      peakRss.main(['--steps', '1', '--json', json], (line) => out.push(line)),
    );
    expect(result.steps).toBe(1);
    expect(result.oursMiB).toBeGreaterThan(40); // node, the addon, the seed model and its AdamW state
    expect(result.oursMiB).toBeLessThan(2048);
    expect(result.peer).toEqual({ name: 'fake 1.0', MiB: 1024, ratio: 1024 / result.oursMiB });
    expect(JSON.parse(fs.readFileSync(json, 'utf8'))).toEqual(result);
    expect(out[0]).toMatch(/^peak RSS, seed model, 1 training steps on 1 thread: ours \d+ MiB$/);
    expect(out[1]).toMatch(/^fake 1\.0: 1024 MiB; theirs \/ ours = [\d.]+x$/);

    const alone: string[] = [];
    const unavailable = await withPython(path.join(dir, 'no-such-python'), () =>
      peakRss.main(['--steps', '1'], (line) => alone.push(line)),
    );
    expect(unavailable.peer).toBeUndefined();
    expect(alone[1]).toBe('peer unavailable: no python3 found');
  }, 60_000);

  test('serve: 1 stream against N streams decoded together, and its options', () => {
    const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tn-bench-serve-')), 'serve.json');
    const report = serveBench.main([
      '--streams',
      '3',
      '--tokens',
      '4',
      '--repeats',
      '1',
      '--threads',
      '1',
      '--json',
      json,
    ]);
    expect(report).toEqual(JSON.parse(fs.readFileSync(json, 'utf8')));
    expect(report.streams).toBe(3);
    expect(report.oneStream).toBeGreaterThan(0);
    expect(report.ratio).toBeCloseTo(report.manyStreams / report.oneStream, 10);
    expect(() => serveBench.main(['--streams', '0'])).toThrow(/--streams must be a positive integer/);
    expect(() => serveBench.main(['--tokens', '500'])).toThrow(/--tokens exceeds the context/);
    expect(() => serveBench.main(['--nope'])).toThrow(/nope/);
  });

  test('peak-rss options', () => {
    expect(peakRss.parseArgs([])).toEqual({ steps: 20, json: null, side: null });
    expect(peakRss.parseArgs(['--steps', '3', '--json', 'r.json'])).toEqual({ steps: 3, json: 'r.json', side: null });
    expectError(() => peakRss.parseArgs(['--steps', '0']), 'RangeError', /--steps expects a positive integer, got '0'/);
    expectError(() => peakRss.parseArgs(['--threads', '2']), 'TypeError', /unknown option '--threads'/);
  });

  test('1-thread rows pin this process and the peer to one CPU; the rest get every CPU back', async () => {
    const before = affinityList(process.pid);
    const affinity = new Affinity();
    if (before === null || /^\d+$/.test(before)) {
      expect(affinity.single).toBeNull(); // no taskset, or one CPU: nothing to pin
      return;
    }
    const cpu = before.split(',')[0].split('-')[0];
    expect(affinity.single).toBe(cpu);
    expect(affinity.command(1, 'python3', ['peer.py'])).toEqual(['taskset', ['-c', cpu, 'python3', 'peer.py']]);
    expect(affinity.command(2, 'python3', ['peer.py'])).toEqual(['python3', ['peer.py']]);
    try {
      affinity.pinSelf(1);
      expect(affinityList(process.pid)).toBe(cpu);
      affinity.pinSelf(2);
      expect(affinityList(process.pid)).toBe(before);
      affinity.pinSelf(1);
    } finally {
      affinity.restore();
    }
    expect(affinityList(process.pid)).toBe(before);
    // A whole run leaves the process as it found it.
    const { io } = silent();
    await main(
      ['--quick', '--filter', 'gemm NN 128^3', '--threads', '1', '--json', path.join(dir, 'pin.json')],
      io,
      FAST_LIMITS,
    );
    expect(affinityList(process.pid)).toBe(before);
  });

  test('CPU lists expand to every CPU', () => {
    expect(expandCpus('0')).toEqual(['0']);
    expect(expandCpus('0,1')).toEqual(['0', '1']);
    expect(expandCpus('0-3,8,10-11')).toEqual(['0', '1', '2', '3', '8', '10', '11']);
  });

  test('1-thread rows move, with their peer processes, to the CPU where the probe runs fastest', () => {
    const before = affinityList(process.pid);
    const affinity = new Affinity();
    if (affinity.single === null || before === null) {
      expect(affinity.chooseFastest(() => 1)).toBeNull();
      return;
    }
    const cpus = expandCpus(before);
    const target = cpus[cpus.length - 1];
    const follower = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      affinity.follow(follower.pid as number);
      const probed: string[] = [];
      // Fast only while this process is pinned to the last CPU.
      const probe = (): number => {
        const here = affinityList(process.pid) as string;
        probed.push(here);
        return here === target ? 1 : 2;
      };
      expect(affinity.chooseFastest(probe)).toBe(target);
      expect(probed).toEqual(cpus);
      expect(affinity.single).toBe(target);
      expect(affinityList(follower.pid as number)).toBe(target);
      expect(affinity.command(1, 'python3', ['peer.py'])).toEqual(['taskset', ['-c', target, 'python3', 'peer.py']]);
      affinity.pinSelf(1);
      expect(affinityList(process.pid)).toBe(target);
    } finally {
      affinity.restore();
      follower.kill();
    }
    expect(affinityList(process.pid)).toBe(before);
  });

  test('a filter that matches nothing is an error', async () => {
    await expect(
      main(['--quick', '--filter', 'no such row', '--json', path.join(dir, 'x.json')], silent().io),
    ).rejects.toThrow(/--filter 'no such row' matches no row/);
  });
});
