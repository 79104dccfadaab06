// examples/finetune: the GPT-2 script tunes the tiny GPT-2 folder on the demo's sentences until it continues
// "The cat sat on the" with " mat", and writes a Hugging Face folder that loads back; the BART script runs
// (shortened) on CMUdict and writes its folder.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromHuggingFace, GPT } from '../../src/models';

const root = path.join(__dirname, '..', '..');

test('finetune-gpt2.js learns the sentences and saves a GPT-2 folder', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-finetune-'));
  try {
    const result = spawnSync(
      process.execPath,
      [path.join(root, 'examples', 'finetune', 'finetune-gpt2.js'), '--out', out],
      { cwd: root, encoding: 'utf8', timeout: 60000, env: { ...process.env, TN_NUM_THREADS: '1' } },
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/after: {2}"The cat sat on the" -> "The cat sat on the mat/);
    const { model, config } = fromHuggingFace(path.join(out, 'hf'));
    expect(model).toBeInstanceOf(GPT);
    expect(config.architectures).toEqual(['GPT2LMHeadModel']);
    model.dispose();
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 70000);

test('finetune-bart.js (a short run) tunes BART on CMUdict words and saves a BART folder', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-finetune-bart-'));
  try {
    const script = path.join(root, 'examples', 'finetune', 'finetune-bart.js');
    const result = spawnSync(process.execPath, [script, '--out', out, '--words', '200', '--steps', '10'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, TN_NUM_THREADS: '1' },
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/fine-tuning bart on \d+ words of CMUdict/);
    expect(result.stdout.split('\n').filter((l) => /\t\(CMUdict: /.test(l))).toHaveLength(5);
    const { config } = fromHuggingFace(path.join(out, 'hf'));
    expect(config.architectures).toEqual(['BartForConditionalGeneration']);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 70000);
