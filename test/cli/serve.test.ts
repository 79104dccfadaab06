// `transformer-native serve`: its help and user errors in-process, a run stopped by its interrupt handler, and
// the built program under SIGTERM and SIGINT: it stops accepting, finishes the request in flight and exits 0.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { main, MainOptions } from '../../src/cli/main';
import type { InferenceServer } from '../../src/serve/http';
import { assertBuilt } from '../serve/fixtures';
import { events, openStream, request, saveSlowLM } from '../serve/http-helpers';

let root: string;
let checkpoint: string;
beforeAll(() => {
  assertBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-cli-serve-'));
  checkpoint = saveSlowLM(root);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs the CLI in-process with its output collected. */
async function run(
  argv: string[],
  options: MainOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const collect = (key: keyof typeof out) =>
    new Writable({
      write: (chunk, _encoding, done) => {
        out[key] += String(chunk);
        done();
      },
    });
  const code = await main(argv, { stdout: collect('stdout'), stderr: collect('stderr') }, options);
  return { code, ...out };
}

/** Starts `serve` in-process; resolves once it listens, with a stop() that triggers its interrupt handler. */
async function start(argv: string[]): Promise<{
  server: InferenceServer;
  stop: () => void;
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}> {
  let stop: () => void = () => undefined;
  let listening!: (server: InferenceServer) => void;
  const ready = new Promise<InferenceServer>((resolve) => (listening = resolve));
  const done = run(['serve', '--checkpoint', checkpoint, '--threads', '1', ...argv], {
    onInterrupt: (handler) => (stop = handler),
    serve: { onListening: (server) => listening(server) },
  });
  const server = await Promise.race([
    ready,
    done.then((r) => {
      throw new Error(`serve ended with ${r.code}: ${r.stderr}`);
    }),
  ]);
  return { server, stop: () => stop(), done };
}

test('help, and the main help lists serve', async () => {
  const help = await run(['serve', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/Usage: transformer-native serve --checkpoint DIR \[options\]/);
  for (const flag of [
    '--checkpoint DIR',
    '--host VALUE',
    '--port N',
    '--max-batch N',
    '--max-queue N',
    '--threads N',
    '--grace-period SECONDS',
  ])
    expect(help.stdout).toContain(flag);
  expect(help.stdout).toMatch(/--port N\s+port \(0: any free port\) \(default: 8080\)/);
  expect(help.stdout).toMatch(/--host VALUE\s+address to listen on \(default: 127\.0\.0\.1\)/);
  expect(help.stdout).toMatch(/POST \/v1\/completions \(lm\)/);
  const all = await run(['--help']);
  expect(all.stdout).toMatch(/transformer-native serve --checkpoint DIR \[options\]/);
  expect(all.stdout).toMatch(/\n {2}serve\s+serve a checkpoint over HTTP/);
});

test('user errors', async () => {
  const expectError = async (argv: string[], code: number, message: RegExp) => {
    const r = await run(argv);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  };
  await expectError(['serve'], 2, /missing required option --checkpoint\nRun 'transformer-native serve --help'/);
  await expectError(
    ['serve', '--checkpoint', checkpoint, '--port', '70000'],
    2,
    /--port: expected an integer <= 65535/,
  );
  await expectError(
    ['serve', '--checkpoint', checkpoint, '--max-queue', '0'],
    2,
    /--max-queue: expected an integer >= 1/,
  );
  await expectError(
    ['serve', '--checkpoint', checkpoint, '--prot', '1'],
    2,
    /unknown option '--prot' .*did you mean --port/,
  );
  await expectError(['serve', '--checkpoint', checkpoint, 'extra'], 2, /unexpected argument 'extra' for 'serve'/);
  await expectError(['lm', 'serve', '--checkpoint', checkpoint], 2, /'serve' takes no task/);
  await expectError(['serve', '--checkpoint', path.join(root, 'missing')], 1, /checkpoint not found: .*missing/);
  const config = path.join(root, 'serve.json');
  fs.writeFileSync(config, JSON.stringify({ checkpoint, maxBatch: 'big' }));
  await expectError(['serve', '--config', config], 2, /invalid value "big" for 'maxBatch' in config file/);
});

test('in-process: serves until the interrupt handler runs; a busy port is a user error', async () => {
  const first = await start(['--port', '0', '--max-batch', '2', '--max-queue', '3']);
  const health = await request(`${first.server.url}/health`);
  expect(health.json).toMatchObject({ status: 'ok', task: 'lm', maxBatch: 2, maxQueue: 3, threads: 1 });
  const busy = await run(['serve', '--checkpoint', checkpoint, '--port', String(first.server.port)]);
  expect(busy.code).toBe(1);
  expect(busy.stderr).toMatch(/port \d+ on 127\.0\.0\.1 is already in use/);
  first.stop();
  const result = await first.done;
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(
    /^serving lm model 'slow-lm' \(GPT, [\d,]+ parameters\) from .* on http:\/\/127\.0\.0\.1:\d+\n$/,
  );
  expect(result.stderr).toMatch(/SIGINT: finishing 0 requests in flight \(grace period 30 s\)\nserver closed\n/);
});

/** The built program, serving the slow model on a free port. */
function spawnServer(): Promise<{
  child: ChildProcess;
  url: string;
  exit: Promise<number | null>;
  stderr: () => string;
}> {
  const program = path.join(__dirname, '..', '..', 'dist', 'cli', 'index.js');
  const child = spawn(
    process.execPath,
    [program, 'serve', '--checkpoint', checkpoint, '--port', '0', '--threads', '1'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
      const match = /on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
      if (match) resolve({ child, url: match[1], exit, stderr: () => stderr });
    });
    void exit.then((code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}

test('the program: SIGTERM finishes the request in flight, refuses new ones and exits 0', async () => {
  const server = await spawnServer();
  try {
    const stream = await openStream(server.url, { prompt: 'abc', max_tokens: 200, temperature: 0 });
    const ended = new Promise<void>((resolve) => stream.res.on('end', () => resolve()));
    server.child.kill('SIGTERM');
    // Refused once the signal is handled, while the stream goes on. How soon the server gets to the signal
    // depends on the machine's load, so this waits for its own word that it has (the jest timeout bounds it).
    while (!/SIGTERM: finishing/.test(server.stderr())) await new Promise((resolve) => setTimeout(resolve, 20));
    let refused = false;
    while (!refused) {
      refused = await request(`${server.url}/health`).then(
        () => false,
        (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED',
      );
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await ended;
    const data = events(stream.received());
    expect(data.at(-1)).toBe('[DONE]');
    expect(data).toHaveLength(200 + 2);
    expect(await server.exit).toBe(0);
    expect(server.stderr()).toMatch(/SIGTERM: finishing 1 request in flight/);
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('the program: SIGINT stops an idle server with exit code 0', async () => {
  const server = await spawnServer();
  try {
    expect((await request(`${server.url}/health`)).status).toBe(200);
    server.child.kill('SIGINT');
    expect(await server.exit).toBe(0);
    expect(server.stderr()).toMatch(/SIGINT: finishing 0 requests in flight/);
  } finally {
    server.child.kill('SIGKILL');
  }
});
