// The command line, run in-process through main(argv, io): help, user errors with exit codes and no stack
// traces, config files under flags, lm train -> generate -> resume, classify train -> eval -> predict; and one
// real subprocess run of the built program.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runMain, runMainWith } from './run-main';
import { registerTask, unregisterTask } from '../../src/cli/tasks';
import { readMetrics } from '../../src/training/trainer';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-cli-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const run = runMain;
const runWith = runMainWith;

/** A user error: the exit code, one clear line, no stack trace. */
async function expectUserError(argv: string[], code: number, message: RegExp): Promise<void> {
  const result = await run(...argv);
  expect(result.code).toBe(code);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).toMatch(/^transformer-native: error: /);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe('');
}

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(12);

describe('help', () => {
  test('no arguments print the overview and fail; --help succeeds', async () => {
    const bare = await run();
    expect(bare.code).toBe(2);
    expect(bare.stdout).toMatch(/Usage: transformer-native <command> --task NAME/);
    const help = await run('--help');
    expect(help.code).toBe(0);
    for (const word of ['train', 'eval', 'predict', 'generate', 'lm', 'classify'])
      expect(help.stdout).toContain(`  ${word}`);
    expect(help.stdout).toMatch(/lm\s+language modelling: a GPT trained on a text file \(train, eval, generate\)/);
  });

  test('each command and task has its help', async () => {
    const train = await run('train', '--help');
    expect(train.code).toBe(0);
    expect(train.stdout).toMatch(/Usage: transformer-native train --task NAME/);
    expect(train.stdout).toMatch(/lm\s+train a GPT on a text file/);
    for (const argv of [
      ['train', '--task', 'lm', '--help'],
      ['lm', 'train', '--help'],
      ['train', '--task=lm', '-h'],
    ]) {
      const r = await run(...argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--data FILE\s+UTF-8 text file to train on \(required\)/);
      expect(r.stdout).toMatch(
        /--max-steps N\s+optimizer steps to train for \(default: 2000 unless --epochs is given\)/,
      );
      expect(r.stdout).toMatch(/--config FILE/);
    }
    const generate = await run('generate', '--task', 'lm', '--help');
    expect(generate.stdout).toMatch(/--top-p N/);
    const predict = await run('predict', '--task', 'classify', '--help');
    expect(predict.stdout).toMatch(/Usage: transformer-native predict --task classify \[options\] \[TEXT\.\.\.\]/);
    const version = await run('--version');
    expect(version).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});

describe('user errors', () => {
  test('unknown commands, tasks and flags', async () => {
    await expectUserError(['trian'], 2, /unknown command 'trian' \(did you mean train\?\)/);
    await expectUserError(['train'], 2, /'train' needs --task NAME \(one of classify, g2p, lm, seq2seq\)/);
    await expectUserError(['train', '--task', 'lmm'], 2, /unknown task 'lmm' \(did you mean lm\?\)/);
    await expectUserError(['generate', '--task', 'classify'], 2, /task 'classify' has no 'generate' command/);
    await expectUserError(
      ['train', '--task', 'lm', '--max-step', '3'],
      2,
      /unknown option '--max-step' .*\(did you mean --max-steps\?\)\nRun 'transformer-native train --task lm --help'/,
    );
    await expectUserError(['train', '--task', 'lm', '--out', 'x'], 2, /missing required option --data/);
    await expectUserError(['train', '--task', 'lm', '--data'], 2, /option '--data' needs a value/);
    await expectUserError(
      ['train', '--task', 'lm', 'stray', '--data', 'x', '--out', 'y'],
      2,
      /unexpected argument 'stray'/,
    );
  });

  test('the task given twice, after --, or flags without values before the task is known', async () => {
    await expectUserError(
      ['train', '--task', 'lm', '--task', 'classify'],
      2,
      /the task is given twice: 'lm' and --task classify/,
    );
    await expectUserError(['lm', 'train', '--task=g2p'], 2, /the task is given twice: 'lm' and --task g2p/);
    await expectUserError(['predict', '--', '--task', 'classify'], 2, /'predict' needs --task NAME/);
    await expectUserError(['train', '--task', '--data', 'x'], 2, /option '--task' needs a value/);
    await expectUserError(['predict', '--checkpoint'], 2, /option '--checkpoint' needs a value/);
  });

  test('invalid values', async () => {
    const base = ['train', '--task', 'lm', '--data', 'x.txt', '--out', path.join(root, 'never')];
    await expectUserError(
      [...base, '--max-steps', 'ten'],
      2,
      /invalid value "ten" for --max-steps: expected an integer/,
    );
    await expectUserError(
      [...base, '--max-steps', '0'],
      2,
      /invalid value "0" for --max-steps: expected an integer >= 1/,
    );
    await expectUserError([...base, '--lr', '-1'], 2, /invalid value "-1" for --lr: expected a number > 0/);
    await expectUserError(
      [...base, '--tokenizer', 'words'],
      2,
      /invalid value "words" for --tokenizer: expected one of char, bpe/,
    );
    await expectUserError([...base, '--dropout', '1.5'], 2, /for --dropout: expected a number <= 0.99/);
  });

  test('missing files, bad JSON and bad config keys', async () => {
    const out = path.join(root, 'never');
    await expectUserError(
      ['train', '--task', 'lm', '--data', path.join(root, 'nope.txt'), '--out', out],
      1,
      /data file not found: .*nope\.txt/,
    );
    const badJson = path.join(root, 'bad.json');
    fs.writeFileSync(badJson, '{ "maxSteps": 3,, }');
    await expectUserError(
      ['train', '--task', 'lm', '--config', badJson],
      1,
      /config file .*bad\.json is not valid JSON/,
    );
    await expectUserError(
      ['train', '--task', 'lm', '--config', path.join(root, 'none.json')],
      1,
      /config file not found/,
    );
    const unknownKey = path.join(root, 'unknown.json');
    fs.writeFileSync(unknownKey, JSON.stringify({ data: 'x', out: 'y', maxStep: 3 }));
    await expectUserError(
      ['train', '--task', 'lm', '--config', unknownKey],
      2,
      /unknown key 'maxStep' in config file .*\(did you mean maxSteps\?\)/,
    );
    const badValue = path.join(root, 'value.json');
    fs.writeFileSync(badValue, JSON.stringify({ data: 'x', out: 'y', batchSize: 'big' }));
    await expectUserError(
      ['train', '--task', 'lm', '--config', badValue],
      2,
      /invalid value "big" for 'batchSize' in config file/,
    );
    await expectUserError(
      ['generate', '--task', 'lm', '--checkpoint', path.join(root, 'nothing'), '--prompt', 'a'],
      1,
      /checkpoint not found: .*nothing/,
    );
  });

  test('errors thrown by the library are reported without a stack trace', async () => {
    const data = path.join(root, 'small.txt');
    fs.writeFileSync(data, TEXT);
    // dModel 10 is not divisible by 4 heads: the model constructor refuses it.
    await expectUserError(
      [
        'train',
        '--task',
        'lm',
        '--data',
        data,
        '--out',
        path.join(root, 'bad-model'),
        '--d-model',
        '10',
        '--max-steps',
        '1',
      ],
      1,
      /GPT: .*10.*4/,
    );
  });
});

describe('lm', () => {
  const out = () => path.join(root, 'lm-run');
  const data = () => path.join(root, 'lm.txt');

  test('train (config + flags) -> generate -> resume', async () => {
    fs.writeFileSync(data(), TEXT);
    const config = path.join(root, 'lm.json');
    // The config asks for 200 steps; the flag overrides it.
    fs.writeFileSync(
      config,
      JSON.stringify({
        data: data(),
        maxSteps: 200,
        blockSize: 16,
        dModel: 32,
        nhead: 2,
        numLayers: 1,
        batchSize: 8,
        warmupSteps: 5,
        lr: 0.01,
        progress: 'log',
      }),
    );
    const trained = await run(
      'train',
      '--task',
      'lm',
      '--config',
      config,
      '--out',
      out(),
      '--max-steps',
      '40',
      '--eval-every',
      '20',
      '--log-every',
      '10',
      '--checkpoint-every',
      '20',
    );
    expect(trained.stderr).toMatch(/lm: training a model of [\d,]+ parameters for 40 steps/);
    expect(trained.code).toBe(0);
    expect(trained.stdout).toMatch(
      /^done at step 40: loss \d+\.\d{4} \| eval loss \d+\.\d{4}, perplexity \d+\.\d{4}, bitsPerChar \d+\.\d{4}\ncheckpoint: .*step-00000040\nmetrics: .*metrics\.jsonl, chart: .*loss\.svg\n$/,
    );
    expect(trained.stderr).toMatch(/step 40\/40 \| epoch \d+ \| loss/);
    for (const file of ['metrics.jsonl', 'loss.svg', 'best', 'checkpoints'])
      expect(fs.existsSync(path.join(out(), file))).toBe(true);
    const records = readMetrics(path.join(out(), 'metrics.jsonl'));
    expect(records.filter((r) => r.type === 'train').map((r) => r.step)).toEqual([10, 20, 30, 40]);
    const losses = records.filter((r) => r.type === 'train').map((r) => (r as { loss: number }).loss);
    expect(losses[3]).toBeLessThan(losses[0]);

    // Sampling is seeded; greedy decoding is deterministic; the task comes from the checkpoint.
    const sample = (seed: string) =>
      run(
        'generate',
        '--checkpoint',
        out(),
        '--prompt',
        'the ',
        '--max-tokens',
        '30',
        '--temperature',
        '0.8',
        '--top-k',
        '5',
        '--seed',
        seed,
      );
    const a = await sample('1');
    const b = await sample('1');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.startsWith('the ')).toBe(true);
    // 16 positions: the 4-token prompt leaves room for 13 new tokens, which the command says.
    expect(a.stderr).toBe("lm: the model's context of 16 tokens leaves room for 13 new tokens after this prompt\n");
    expect(a.stdout.length).toBeGreaterThan('the '.length + 5);
    const greedy = await run(
      'lm',
      'generate',
      '--checkpoint',
      path.join(out(), 'checkpoints', 'step-00000040'),
      '--prompt',
      'the c',
      '--temperature',
      '0',
      '--max-tokens',
      '20',
    );
    expect(greedy.code).toBe(0);
    expect(greedy.stdout).toMatch(/^the c/);
    await expectUserError(
      ['generate', '--checkpoint', out(), '--prompt', 'x', '--top-p', '0'],
      2,
      /--top-p: expected a number > 0/,
    );
    // eval on the training text: the same loss as the last eval on the held-out tail, roughly.
    const metricsFile = path.join(root, 'lm-eval.json');
    const evaluated = await run('eval', '--checkpoint', out(), '--data', data(), '--json', metricsFile);
    expect(evaluated.code).toBe(0);
    expect(evaluated.stdout).toMatch(
      /^loss \d+\.\d{4} \| bits\/char \d+\.\d{4} \| perplexity \d+\.\d{4} \| tokens 575\n$/,
    );
    const saved = JSON.parse(fs.readFileSync(metricsFile, 'utf8'));
    expect(saved.perplexity).toBeCloseTo(Math.exp(saved.loss), 6);
    // A character tokenizer: one token per character, so bits per character is the loss in bits.
    expect(saved.bitsPerChar).toBeCloseTo(saved.loss / Math.LN2, 6);
    expect(saved.loss).toBeLessThan(losses[0]);

    // Resume the run to 60 steps: it continues the metrics file from the last checkpoint.
    const resumed = await run(
      'train',
      '--task',
      'lm',
      '--config',
      config,
      '--out',
      out(),
      '--max-steps',
      '60',
      '--log-every',
      '10',
      '--resume',
      'auto',
    );
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/lm: resuming from .*step-00000040\n/);
    expect(resumed.stderr).toMatch(/the learning-rate schedule of .* ends at step 40; later steps use its final lr/);
    expect(resumed.stdout).toMatch(/^done at step 60/);
    const steps = readMetrics(path.join(out(), 'metrics.jsonl'))
      .filter((r) => r.type === 'train')
      .map((r) => r.step);
    expect(steps).toEqual([10, 20, 30, 40, 50, 60]);
    await expectUserError(
      ['train', '--task', 'lm', '--config', config, '--out', out()],
      1,
      /already holds checkpoints of a run; pass --resume auto to continue it/,
    );
    // keepLast 3 (default): step 20, 40, 60 remain.
    expect(fs.readdirSync(path.join(out(), 'checkpoints')).sort()).toEqual([
      'step-00000020',
      'step-00000040',
      'step-00000060',
    ]);
  });

  test('an interrupted run resumed with --resume auto has the losses of an uninterrupted one', async () => {
    const flags = [
      '--data',
      data(),
      '--max-steps',
      '12',
      '--block-size',
      '16',
      '--d-model',
      '16',
      '--nhead',
      '2',
      '--num-layers',
      '1',
      '--batch-size',
      '4',
      '--warmup-steps',
      '3',
      '--log-every',
      '1',
      '--progress',
      'none',
      '--seed',
      '7',
    ];
    const straightDir = path.join(root, 'straight');
    expect((await run('train', '--task', 'lm', ...flags, '--out', straightDir)).code).toBe(0);
    const interruptedDir = path.join(root, 'interrupted');
    // The "Ctrl-C" arrives once the first step has run: the trainer stops there and saves a checkpoint.
    const stopped = await runWith(
      { onInterrupt: (stop) => setImmediate(stop) },
      'train',
      '--task',
      'lm',
      ...flags,
      '--out',
      interruptedDir,
    );
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/^stopped at step 1:/);
    const resumed = await run('train', '--task', 'lm', ...flags, '--out', interruptedDir, '--resume', 'auto');
    expect(resumed.stdout).toMatch(/^done at step 12:/);
    const lossesOf = (dir: string) =>
      readMetrics(path.join(dir, 'metrics.jsonl'))
        .filter((r) => r.type === 'train')
        .map((r) => (r as { loss: number }).loss);
    const straight = lossesOf(straightDir);
    const interrupted = lossesOf(interruptedDir);
    expect(interrupted).toHaveLength(12);
    interrupted.forEach((loss, i) => expect(Math.abs(loss - straight[i])).toBeLessThanOrEqual(1e-6));
  });

  test('a BPE tokenizer trains too', async () => {
    const r = await run(
      'train',
      '--task',
      'lm',
      '--data',
      data(),
      '--out',
      path.join(root, 'bpe'),
      '--tokenizer',
      'bpe',
      '--vocab-size',
      '280',
      '--max-steps',
      '3',
      '--block-size',
      '8',
      '--d-model',
      '16',
      '--nhead',
      '2',
      '--num-layers',
      '1',
      '--progress',
      'none',
    );
    expect(r.code).toBe(0);
    const tokenizer = JSON.parse(fs.readFileSync(path.join(root, 'bpe', 'best', 'tokenizer.json'), 'utf8'));
    expect(tokenizer.type).toBe('ByteLevelBPETokenizer');
    // Bits per character spread the loss of the tokens over the characters they spell: fewer bits per character
    // than per token once merges make tokens of several characters.
    const metricsFile = path.join(root, 'bpe-eval.json');
    expect(
      (await run('eval', '--checkpoint', path.join(root, 'bpe'), '--data', data(), '--json', metricsFile)).code,
    ).toBe(0);
    const saved = JSON.parse(fs.readFileSync(metricsFile, 'utf8'));
    const characters = Array.from(fs.readFileSync(data(), 'utf8')).length;
    expect(saved.bitsPerChar).toBeCloseTo(((saved.loss / Math.LN2) * (saved.tokens + 1)) / characters, 6);
    expect(saved.tokens + 1).toBeLessThan(characters);
  });
});

describe('classify', () => {
  test('train -> eval (with --json) -> predict', async () => {
    const rows: string[] = [];
    for (let i = 0; i < 40; i++) {
      rows.push(JSON.stringify({ text: 'ab'.repeat(1 + (i % 4)), label: 'ab' }));
      rows.push(JSON.stringify({ text: 'xyz'.repeat(1 + (i % 3)), label: 'xyz' }));
    }
    const data = path.join(root, 'cls.jsonl');
    fs.writeFileSync(data, `${rows.join('\n')}\n`);
    const out = path.join(root, 'cls-run');
    const trained = await run(
      'classify',
      'train',
      '--data',
      data,
      '--out',
      out,
      '--max-steps',
      '30',
      '--d-model',
      '16',
      '--nhead',
      '2',
      '--num-layers',
      '1',
      '--batch-size',
      '8',
      '--lr',
      '0.005',
      '--warmup-steps',
      '3',
      '--eval-every',
      '10',
      '--progress',
      'none',
    );
    expect(trained.code).toBe(0);
    expect(trained.stdout).toMatch(/eval loss \d+\.\d{4}, accuracy 1\.0000/);
    const json = path.join(root, 'cls-metrics.json');
    const evaluated = await run('eval', '--checkpoint', out, '--data', data, '--json', json);
    expect(evaluated.code).toBe(0);
    expect(evaluated.stdout).toMatch(/^accuracy 1\.0000 \| loss \d+\.\d{4} \| examples 80\n$/);
    expect(JSON.parse(fs.readFileSync(json, 'utf8'))).toMatchObject({ accuracy: 1, examples: 80 });
    const predicted = await run('predict', '--checkpoint', out, 'ababab', 'xyzxyz');
    expect(predicted.code).toBe(0);
    expect(predicted.stdout).toMatch(/^ab\t\d\.\d{4}\tababab\nxyz\t\d\.\d{4}\txyzxyz\n$/);
    fs.writeFileSync(path.join(root, 'bad.jsonl'), '{"text": "a", "label": "ab"}\n{"text": 3}\n');
    await expectUserError(
      ['eval', '--checkpoint', out, '--data', path.join(root, 'bad.jsonl')],
      1,
      /bad\.jsonl:2: expected an object with a string "text"/,
    );
    await expectUserError(['predict', '--checkpoint', out], 2, /give texts to classify/);
    // --epochs alone sets the length: 72 training rows (8 held out) in batches of 8 for 2 epochs.
    const byEpochs = await run(
      'classify',
      'train',
      '--data',
      data,
      '--out',
      path.join(root, 'cls-epochs'),
      '--epochs',
      '2',
      '--tokenizer',
      'word',
      '--lowercase',
      '--d-model',
      '8',
      '--nhead',
      '2',
      '--num-layers',
      '1',
      '--batch-size',
      '8',
      '--progress',
      'none',
    );
    expect(byEpochs.code).toBe(0);
    expect(byEpochs.stderr).toMatch(/for 18 steps/);
    expect(byEpochs.stdout).toMatch(/^done at step 18:/);
    // --lowercase: the vocabulary is lower-case, and texts are lower-cased before lookup.
    const epochsDir = path.join(root, 'cls-epochs');
    const words = JSON.parse(fs.readFileSync(path.join(epochsDir, 'best', 'tokenizer.json'), 'utf8'));
    expect(words).toMatchObject({ type: 'WordTokenizer', lowercase: true });
    const [lower, upper] = (await run('predict', '--checkpoint', epochsDir, 'abab', 'ABAB')).stdout.split('\n');
    expect(upper.replace('ABAB', 'abab')).toBe(lower);
    await expectUserError(
      ['classify', 'train', '--data', data, '--out', path.join(root, 'never'), '--tokenizer', 'char', '--lowercase'],
      2,
      /--lowercase works with the word tokenizer only, not char/,
    );
    await expectUserError(
      ['generate', '--task', 'lm', '--checkpoint', out, '--prompt', 'a'],
      1,
      /holds a EncoderClassifier, this command needs a GPT/,
    );
  });

  test('--average-last without held-out data averages and saves best/, and says when it cannot', async () => {
    const rows: string[] = [];
    for (let i = 0; i < 40; i++) rows.push(JSON.stringify({ text: `w${i % 5} v${i % 3}`, label: `c${i % 2}` }));
    const data = path.join(root, 'cls-avg.jsonl');
    fs.writeFileSync(data, `${rows.join('\n')}\n`);
    const small = ['--d-model', '8', '--nhead', '2', '--num-layers', '1', '--batch-size', '8', '--progress', 'none'];
    const train = (out: string, ...flags: string[]) =>
      run(
        'classify',
        'train',
        '--data',
        data,
        '--out',
        out,
        '--val-fraction',
        '0',
        '--epochs',
        '2',
        ...small,
        ...flags,
      );
    // 40 rows, none held out, in batches of 8: 5 steps an epoch, a checkpoint every 5 steps.
    const out = path.join(root, 'cls-avg');
    const averaged = await train(out, '--checkpoint-every', '5', '--keep-last', '2', '--average-last', '2');
    expect(averaged.code).toBe(0);
    expect(averaged.stdout).toMatch(/average of steps 5, 10 \(no held-out data to score it on\); saved as best\/\n/);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'best', 'trainer_state.json'), 'utf8'));
    expect(state.metadata.averagedSteps).toEqual([5, 10]);
    expect(state.metadata.averagedMetrics).toBeUndefined();
    expect((await run('eval', '--checkpoint', out, '--data', data)).code).toBe(0);
    // One checkpoint only (saved at the end): nothing to average, and the run says so.
    const single = await train(path.join(root, 'cls-avg-1'), '--keep-last', '2', '--average-last', '2');
    expect(single.code).toBe(0);
    expect(single.stderr).toMatch(/--average-last 2: 1 step checkpoint\(s\) in .*cls-avg-1, nothing to average/);
    expect(fs.existsSync(path.join(root, 'cls-avg-1', 'best'))).toBe(false);
  });
});

test('tasks plug in through the registry', async () => {
  const seen: unknown[] = [];
  registerTask({
    name: 'echo',
    description: 'repeats its input',
    commands: {
      predict: {
        summary: 'print the words',
        positionals: '[WORD...]',
        options: [
          { name: 'upper', type: 'boolean', description: 'upper-case' },
          { name: 'times', type: 'integer', min: 1, default: 1, description: 'repeats' },
        ],
        run: ({ options, positionals, io }) => {
          seen.push(options);
          const words = positionals.map((w) => (options.upper ? w.toUpperCase() : w));
          io.stdout.write(
            `${Array(options.times as number)
              .fill(words.join(' '))
              .join(' | ')}\n`,
          );
          return positionals.length > 0 ? 0 : 3;
        },
      },
    },
  });
  try {
    expect(await run('echo', 'predict', 'a', 'b', '--upper', '--times', '2')).toEqual({
      code: 0,
      stdout: 'A B | A B\n',
      stderr: '',
    });
    expect(await run('predict', '--task', 'echo', '--no-upper', '--', '--x')).toEqual({
      code: 0,
      stdout: '--x\n',
      stderr: '',
    });
    expect((await run('echo', 'predict')).code).toBe(3);
    expect((await run('--help')).stdout).toMatch(/echo\s+repeats its input \(predict\)/);
  } finally {
    unregisterTask('echo');
  }
});

test('the built program runs as a subprocess', () => {
  const program = path.join(__dirname, '..', '..', 'dist', 'cli', 'index.js');
  expect(fs.existsSync(program)).toBe(true); // build it first: npx tsc -p tsconfig.json
  const help = spawnSync(process.execPath, [program, '--help'], { encoding: 'utf8' });
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/Usage: transformer-native <command> --task NAME/);
  const wrong = spawnSync(process.execPath, [program, 'train', '--task', 'lm', '--bogus'], { encoding: 'utf8' });
  expect(wrong.status).toBe(2);
  expect(wrong.stderr).toMatch(/^transformer-native: error: unknown option '--bogus'/);
  expect(wrong.stderr).not.toMatch(/\n\s+at /);
});
