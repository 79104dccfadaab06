// `npm run bench`: option parsing, row definitions, and the results JSON of a tiny filtered run (no timings
// are asserted: the machine is shared).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { expectError } from '../helpers';

interface Options {
  quick: boolean;
  filter: string | null;
  threads: number[];
  json: string;
  compare: boolean;
  help: boolean;
}
interface Row {
  name: string;
  shape: string;
  unit: string;
  work: number;
  peer: string;
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
  peer?: { name: string; value: number; ratio: number };
}
interface Results {
  date: string;
  cpu: string;
  threads: number[];
  limits: { fmaGflops: Record<string, number>; bandwidthGBs: Record<string, number> };
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
  ELEMENTWISE_BYTES: { add: number; geluFwdBwd: number };
  reduceBytes: (N: number, C: number, dim: number) => number;
  crossEntropyBytes: (N: number, C: number) => number;
  embeddingBytes: (N: number, V: number, C: number) => number;
  adamwBytes: (n: number) => number;
};
const { main } = require('../../bench/run') as {
  main: (
    argv: string[],
    io: { out: (s: string) => void; log: (s: string) => void },
    tuning?: object,
  ) => Promise<Results | null>;
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
      help: false,
    });
    expect(
      parseArgs(['--quick', '--filter', 'gemm NN', '--threads', '2,1,2', '--json', 'out.json', '--compare'], 'r.json'),
    ).toEqual({ quick: true, filter: 'gemm NN', threads: [1, 2], json: 'out.json', compare: true, help: false });
  });

  test('bad options throw and name the option', () => {
    expectError(() => parseArgs(['--fast'], 'r.json'), 'TypeError', /bench: unknown option '--fast'/);
    expectError(() => parseArgs(['--filter'], 'r.json'), 'TypeError', /--filter needs a value/);
    expectError(() => parseArgs(['--json', '--quick'], 'r.json'), 'TypeError', /--json needs a value/);
    expectError(() => parseArgs(['--threads', '1,x'], 'r.json'), 'RangeError', /--threads .* got '1,x'/);
    expectError(() => parseArgs(['--threads', '0'], 'r.json'), 'RangeError', /--threads/);
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
    expect(endToEnd.map((r) => r.spec.kind).sort()).toEqual(['gptGenerate', 'gptStep', 'seedStep']);
    for (const r of endToEnd) expect(r.unit).toBe('tokens/s');
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
    for (const row of rows.filter((r) => r.endToEnd)) expect(row.name.startsWith('e2e ')).toBe(true);
  });

  test('every row kind has a peer builder', () => {
    const peer = fs.readFileSync(path.join(__dirname, '..', '..', 'bench', 'peers', 'peer.py'), 'utf8');
    for (const kind of new Set(rows.map((r) => r.spec.kind))) expect(peer).toContain(`"${kind}":`);
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
      unaryFwdBwd: (args) => ELEMENTWISE_BYTES.geluFwdBwd * (args[3] as number),
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
    expect(Object.keys(written).sort()).toEqual(['cpu', 'date', 'limits', 'rows', 'threads']);
    expect(Number.isNaN(Date.parse(written.date))).toBe(false);
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
    expect(fs.readdirSync(dir)).toEqual(['results.json']); // no temporary file left behind
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
    expect(out.join('\n')).toMatch(/\| gemm TN 128\^3 \|.*\| peer unavailable \|/);
  });

  /** A stand-in for python3 that speaks the peer protocol from a shell script: `timeReply` answers each 'time'. */
  function fakePython(name: string, timeReply: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(
      file,
      [
        '#!/bin/sh',
        'if [ "$1" = "-c" ]; then echo 3; exit 0; fi',
        'while read -r line; do',
        '  case "$line" in',
        '    *\\"hello\\"*) echo \'{"ok": true, "name": "fake 1.0"}\' ;;',
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

  test("--compare records the peer's name, throughput and ours/peer ratio", async () => {
    const python = fakePython('python-ok', 'echo \'{"ok": true, "ms": 2}\'');
    const { out, io } = silent();
    const results = await withPython(python, () =>
      main(
        ['--quick', '--compare', '--filter', 'gemm NN 256^3', '--threads', '1', '--json', path.join(dir, 'peer.json')],
        io,
        FAST_LIMITS,
      ),
    );
    const row = results!.rows[0];
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
      'peer',
    ]);
    expect(Object.keys(row.peer!)).toEqual(['name', 'value', 'ratio']);
    expect(row.peer!.name).toBe('fake 1.0 (1 thread)');
    expect(row.peer!.value).toBeCloseTo((2 * 256 ** 3) / 0.002 / 1e9, 9);
    expect(row.peer!.ratio).toBeCloseTo(row.value / row.peer!.value, 9);
    expect(out.join('\n')).toMatch(/\| gemm NN 256\^3 \|.*\| fake 1t \| 16\.8 \| [\d.]+x \|/);
  });

  test('a peer that dies mid-row drops out of that row only', async () => {
    const python = fakePython('python-dies', 'exit 1');
    const { out, io } = silent();
    const results = await withPython(python, () =>
      main(
        ['--quick', '--compare', '--filter', 'gemm NT 128^3', '--threads', '1', '--json', path.join(dir, 'dies.json')],
        io,
        FAST_LIMITS,
      ),
    );
    expect(results!.rows).toHaveLength(1);
    expect(results!.rows[0].peer).toBeUndefined();
    expect(results!.rows[0].value).toBeGreaterThan(0);
    expect(out.join('\n')).toMatch(/\| gemm NT 128\^3 \|.*\| peer failed \|/);
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
