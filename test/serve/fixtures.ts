// What the serving tests share: small checkpoints of each task, made the way users make them (a few training
// steps through the CLI, `train --out DIR`, so the folders are training output folders as --checkpoint takes
// them), and the check that dist/ is built, since a worker thread runs the compiled JavaScript.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { CharTokenizer } from '../../src/data/tokenizers';
import { GPT } from '../../src/models';
import { saveCheckpoint } from '../../src/training/checkpoint';
import { sink } from '../cli/run-main';

const ROOT = path.join(__dirname, '..', '..');

/** Throws unless every src/ file has a dist/ build at least as new: ModelWorker runs dist/serve/worker_main.js
 * even under ts-jest, so a stale build would test old code. */
export function assertBuilt(): void {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const built = path.join(ROOT, 'dist', path.relative(path.join(ROOT, 'src'), file)).replace(/\.ts$/, '.js');
        if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(file).mtimeMs) stale.push(file);
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  if (stale.length > 0)
    throw new Error(
      `dist/ is older than ${path.relative(ROOT, stale[0])}${stale.length > 1 ? ` and ${stale.length - 1} more` : ''}: run npm run build:ts (npm test does)`,
    );
}

/** Text with multi-byte characters, so byte-level BPE tokens split some of them. */
export const LM_TEXT = 'the cat sat on the mat. the dog sat on the log. café, naïve, 日本語. '.repeat(8);

async function train(...argv: string[]): Promise<void> {
  const stdout = sink();
  const stderr = sink();
  const code = await main([...argv, '--progress', 'none'], { stdout, stderr });
  if (code !== 0) throw new Error(`training failed (${code}): ${stderr.text}`);
}

/** lm: a byte-level BPE GPT (context 32) trained for 20 steps on LM_TEXT. */
export async function trainLM(root: string): Promise<string> {
  const data = path.join(root, 'lm.txt');
  fs.writeFileSync(data, LM_TEXT);
  const out = path.join(root, 'lm');
  await train(
    'lm',
    'train',
    '--data',
    data,
    '--out',
    out,
    '--tokenizer',
    'bpe',
    '--vocab-size',
    '300',
    '--block-size',
    '32',
    '--d-model',
    '32',
    '--nhead',
    '2',
    '--num-layers',
    '2',
    '--dropout',
    '0',
    '--max-steps',
    '20',
    '--batch-size',
    '8',
    '--lr',
    '0.01',
    '--warmup-steps',
    '2',
  );
  return out;
}

/** classify: texts of 'ab' against texts of 'xyz', 20 steps. */
export async function trainClassifier(root: string): Promise<string> {
  const rows: string[] = [];
  for (let i = 0; i < 40; i++) {
    rows.push(JSON.stringify({ text: 'ab'.repeat(1 + (i % 4)), label: 'ab' }));
    rows.push(JSON.stringify({ text: 'xyz'.repeat(1 + (i % 3)), label: 'xyz' }));
  }
  const data = path.join(root, 'cls.jsonl');
  fs.writeFileSync(data, `${rows.join('\n')}\n`);
  const out = path.join(root, 'cls');
  await train(
    'classify',
    'train',
    '--data',
    data,
    '--out',
    out,
    '--max-steps',
    '20',
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
  );
  return out;
}

/** g2p: a one-layer Seq2SeqTransformer trained for a few steps on CMUdict. */
export async function trainG2P(root: string): Promise<string> {
  const out = path.join(root, 'g2p');
  await train(
    'g2p',
    'train',
    '--out',
    out,
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
    '--max-steps',
    '5',
    '--max-tokens',
    '500',
    '--dev-words',
    '5',
    '--warmup-steps',
    '2',
    '--max-minutes',
    '5',
  );
  return out;
}

/** lm with random weights, saved as a plain checkpoint folder (task in its metadata, as training stores it):
 * a character GPT, by default with a long context for requests that must still be running when they are
 * aborted; a wider one (dModel >= 256) runs its decoding steps' products on the kernel thread pool. */
export function randomLM(
  root: string,
  name: string,
  options: { contextLength?: number; dModel?: number } = {},
): string {
  const tokenizer = CharTokenizer.fromCorpus([LM_TEXT]);
  const dModel = options.dModel ?? 64;
  const model = new GPT({
    vocabSize: tokenizer.vocabSize,
    contextLength: options.contextLength ?? 512,
    dModel,
    nhead: 4,
    numLayers: 2,
    dimFeedforward: 4 * dModel,
    dropout: 0,
    seed: 11,
  });
  const dir = path.join(root, name);
  saveCheckpoint(dir, { model, tokenizers: tokenizer, config: model.config, metadata: { task: 'lm' } });
  model.dispose();
  return dir;
}
