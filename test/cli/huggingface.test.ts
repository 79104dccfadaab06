// The CLI on Hugging Face model folders: the task comes from config.json's model_type (gpt2: lm, bert: classify,
// bart: seq2seq), and each command gives what the library API gives on the same folder.
import * as path from 'node:path';
import { main } from '../../src/cli/main';
import { HuggingFaceTokenizer } from '../../src/data/tokenizers';
import { beamSearch, greedy } from '../../src/generation';
import { EncoderClassifier, fromHuggingFace, GPT, Seq2SeqTransformer } from '../../src/models';
import { tensor } from '../../src/tensor';
import { ModelWorker } from '../../src/serve/worker';
import { sink } from '../serve/fixtures';

const GOLDEN = path.join(__dirname, '..', 'golden', 'hf');

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await main(argv, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

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
