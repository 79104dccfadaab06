// The CLI on Hugging Face model folders: the task comes from config.json's model_type (gpt2: lm, bert: classify,
// bart: seq2seq), and each command gives what the library API gives on the same folder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HuggingFaceTokenizer } from '../../src/data/tokenizers';
import { beamSearch, greedy } from '../../src/generation';
import { EncoderClassifier, fromHuggingFace, GPT, Seq2SeqTransformer } from '../../src/models';
import { tensor } from '../../src/tensor';
import { ModelWorker } from '../../src/serve/worker';
import { runMain } from './run-main';

const GOLDEN = path.join(__dirname, '..', 'golden', 'hf');

const run = runMain;

test('generate on a GPT-2 folder prints the prompt and its greedy continuation', async () => {
  const folder = path.join(GOLDEN, 'gpt2');
  const result = await run(
    'generate',
    '--checkpoint',
    folder,
    '--prompt',
    'the cat',
    '--max-tokens',
    '6',
    '--temperature',
    '0',
  );
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const { model, tokenizer } = fromHuggingFace(folder);
  const prompt = tokenizer!.encode('the cat');
  const { sequences } = greedy(model as GPT, [prompt], { maxLength: 6, eosId: null });
  expect(result.stdout).toBe(`the cat${tokenizer!.decode(sequences[0])}\n`);
  model.dispose();
});

test('predict on a BERT classifier folder labels texts as the model does on [CLS] text [SEP]', async () => {
  const folder = path.join(GOLDEN, 'bert-classifier');
  const result = await run('predict', '--checkpoint', folder, '--json', 'the cat sat', 'a dog slept on the rug');
  expect(result.code).toBe(0);
  const lines = result.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const { model, tokenizer } = fromHuggingFace(folder);
  expect(tokenizer).toBeInstanceOf(HuggingFaceTokenizer);
  lines.forEach((line, i) => {
    const text = ['the cat sat', 'a dog slept on the rug'][i];
    const ids = tokenizer!.encode(text, { addSpecialTokens: true });
    const p = (model as EncoderClassifier)
      .forward(tensor([ids], { dtype: 'int32' }))
      .softmax(-1)
      .dataSync();
    const best = p.indexOf(Math.max(...p));
    expect(line).toEqual({ text, label: `LABEL_${best}`, probability: expect.closeTo(p[best], 5) });
  });
  model.dispose();
  const encoder = await run('predict', '--checkpoint', path.join(GOLDEN, 'bert'), 'x');
  expect(encoder.code).toBe(1);
  expect(encoder.stderr).toMatch(/holds a BERT encoder without a classification head \(BertModel\)/);
});

test('predict on a BART folder decodes each input with beam search from the decoder start token', async () => {
  const folder = path.join(GOLDEN, 'bart');
  const result = await run('predict', '--checkpoint', folder, '--beam-size', '2', '--max-tokens', '8', 'the cat sat');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const { model, tokenizer } = fromHuggingFace(folder);
  const source = tokenizer!.encode('the cat sat', { addSpecialTokens: true });
  const { sequences } = beamSearch(model as Seq2SeqTransformer, [source], {
    beamSize: 2,
    bosId: 2,
    eosId: 2,
    maxLength: 8,
  });
  expect(result.stdout).toBe(`${tokenizer!.decode(sequences[0], { skipSpecialTokens: true })}\n`);
  model.dispose();
  const wrong = await run('generate', '--checkpoint', folder, '--prompt', 'x');
  expect(wrong.code).toBe(2);
  expect(wrong.stderr).toMatch(/task 'seq2seq' has no 'generate' command/);
});

test('a ModelWorker serves a GPT-2 folder (greedy completions) and a BERT classifier folder', async () => {
  const gpt2 = path.join(GOLDEN, 'gpt2');
  const worker = await ModelWorker.load(gpt2, { threads: 1 });
  try {
    const { text } = await worker.generate('the cat', { maxTokens: 5, temperature: 0 });
    const { model, tokenizer } = fromHuggingFace(gpt2);
    const { sequences } = greedy(model as GPT, [tokenizer!.encode('the cat')], { maxLength: 5, eosId: null });
    expect(text).toBe(tokenizer!.decode(sequences[0]));
    model.dispose();
  } finally {
    await worker.close();
  }
  const classifier = await ModelWorker.load(path.join(GOLDEN, 'bert-classifier'), { threads: 1 });
  try {
    const [prediction] = await classifier.predict(['the cat sat']);
    const { model, tokenizer } = fromHuggingFace(path.join(GOLDEN, 'bert-classifier'));
    const ids = tokenizer!.encode('the cat sat', { addSpecialTokens: true });
    const p = (model as EncoderClassifier)
      .forward(tensor([ids], { dtype: 'int32' }))
      .softmax(-1)
      .dataSync();
    expect(prediction).toEqual({
      label: `LABEL_${p.indexOf(Math.max(...p))}`,
      probabilities: {
        LABEL_0: expect.closeTo(p[0], 5),
        LABEL_1: expect.closeTo(p[1], 5),
        LABEL_2: expect.closeTo(p[2], 5),
      },
    });
    model.dispose();
  } finally {
    await classifier.close();
  }
}, 30000);

describe('train --init: fine-tuning a Hugging Face folder, --save-hf writing one', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-cli-hf-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const common = ['--max-steps', '4', '--progress', 'none', '--warmup-steps', '0'];

  test('lm: a GPT-2 folder tuned on a text file, then generate on both outputs', async () => {
    const data = path.join(root, 'lm.txt');
    fs.writeFileSync(data, 'the cat sat on the mat. the dog slept on the rug. '.repeat(20));
    const out = path.join(root, 'lm');
    const hf = path.join(root, 'lm-hf');
    const args = ['train', '--task', 'lm', '--data', data, '--out', out, '--save-hf', hf, ...common];
    const result = await run(...args, '--init', path.join(GOLDEN, 'gpt2'), '--block-size', '16');
    expect(result.stderr).toMatch(/training a model of [\d,]+ parameters/);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`hugging face folder: ${hf}`);
    const tuned = fromHuggingFace(hf);
    expect(tuned.config).toMatchObject({ model_type: 'gpt2', n_positions: 24, eos_token_id: 280 });
    tuned.model.dispose();
    for (const checkpoint of [out, hf]) {
      const generated = await run('generate', '--checkpoint', checkpoint, '--prompt', 'the', '--temperature', '0');
      expect([checkpoint, generated.code]).toEqual([checkpoint, 0]);
    }
    const conflict = await run(...args, '--init', path.join(GOLDEN, 'gpt2'), '--d-model', '32');
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toMatch(/--d-model describes a new model; with --init the model comes from/);
  }, 60000);

  test('seq2seq: a BART folder tuned on source/target pairs; predict runs on both outputs', async () => {
    const data = path.join(root, 'pairs.jsonl');
    const pairs = ['the cat', 'a dog', 'the mat'].map((source) => ({ source, target: source.toUpperCase() }));
    fs.writeFileSync(data, pairs.map((p) => JSON.stringify(p)).join('\n'));
    const out = path.join(root, 's2s');
    const hf = path.join(root, 's2s-hf');
    const args = ['train', '--task', 'seq2seq', '--data', data, '--out', out, ...common];
    const result = await run(...args, '--init', path.join(GOLDEN, 'bart'), '--save-hf', hf, '--val-data', data);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/done at step 4: loss [\d.]+ \| eval loss [\d.]+/);
    for (const checkpoint of [out, hf]) {
      const predicted = await run(
        'predict',
        '--checkpoint',
        checkpoint,
        '--beam-size',
        '1',
        '--max-tokens',
        '4',
        'cat',
      );
      expect([checkpoint, predicted.code, predicted.stdout.split('\n').length]).toEqual([checkpoint, 0, 2]);
    }
    const withoutInit = await run(...args.map((a) => (a === out ? `${out}-2` : a)));
    expect(withoutInit.code).toBe(2);
    expect(withoutInit.stderr).toMatch(/--init/);
  }, 60000);

  test('classify: a BERT encoder gets a head for the data labels; predict names them', async () => {
    const data = path.join(root, 'cls.jsonl');
    const rows = ['the cat sat', 'a dog slept', 'the cat slept', 'a dog sat'].map((text) => ({
      text,
      label: text.includes('cat') ? 'feline' : 'canine',
    }));
    fs.writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n'));
    const hf = path.join(root, 'cls-hf');
    const out = path.join(root, 'cls');
    const args = ['train', '--task', 'classify', '--data', data, '--out', out, '--val-fraction', '0', ...common];
    const result = await run(...args, '--init', path.join(GOLDEN, 'bert'), '--save-hf', hf);
    expect(result.code).toBe(0);
    const config = JSON.parse(fs.readFileSync(path.join(hf, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['BertForSequenceClassification'],
      id2label: { 0: 'canine', 1: 'feline' },
    });
    const predicted = await run('predict', '--checkpoint', hf, 'the cat');
    expect(predicted.stdout).toMatch(/^(canine|feline)\t[\d.]+\tthe cat\n$/);
    // A model from scratch with a character tokenizer has no Hugging Face form: refused before training.
    const refused = await run(...args.map((a) => (a === out ? `${out}-scratch` : a)), '--save-hf', hf);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--save-hf: saveHuggingFace: /);
  }, 60000);
});
