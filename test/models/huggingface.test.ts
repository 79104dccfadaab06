// Hugging Face model folders: tiny random GPT-2, BERT and BART models written by test/golden/make_hf_goldens.py
// in HF's exact layout, with logits and greedy generations computed there in plain torch from the published
// architectures. Ours must match them (max relative error 1e-4, identical greedy tokens), reject what it cannot
// represent with errors naming it, and write folders that read back exactly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { greedy } from '../../src/generation';
import { loadSafetensors, saveSafetensors } from '../../src/io';
import { EncoderClassifier, fromHuggingFace, GPT, saveHuggingFace, Seq2SeqTransformer } from '../../src/models';
import { Tensor, tensor } from '../../src/tensor';
import { expectError, maxRelError } from '../helpers';

const GOLDEN = path.join(__dirname, '..', 'golden', 'hf');
interface Packed {
  shape: number[];
  data: number[];
}
const goldens = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'goldens.json'), 'utf8')) as Record<
  string,
  Record<string, Packed>
>;
const ids = (p: Packed) => tensor(Int32Array.from(p.data), { shape: p.shape, dtype: 'int32' });
const rows = (p: Packed) =>
  Array.from({ length: p.shape[0] }, (_, i) => p.data.slice(i * p.shape[1], (i + 1) * p.shape[1]));
/** Ours against the float64 reference: max |a - b| over the largest |b| of the tensor (the float32 rounding of
 * a sum scales with its largest terms, not with each result, so one logit near zero is no worse than others). */
const relError = (ours: Tensor, reference: Packed) => {
  expect(ours.shape).toEqual(reference.shape);
  const scale = Math.max(...reference.data.map(Math.abs));
  return maxRelError(ours.dataSync(), reference.data, scale);
};

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-hf-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of a golden folder with config.json edited and/or the weights edited. */
function variant(
  name: string,
  edit: { config?: (c: Record<string, unknown>) => void; weights?: (w: Map<string, Tensor>) => void },
): string {
  const out = path.join(dir, name);
  fs.cpSync(path.join(GOLDEN, name), out, { recursive: true });
  if (edit.config) {
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    edit.config(config);
    fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(config));
  }
  if (edit.weights) {
    const { tensors } = loadSafetensors(path.join(out, 'model.safetensors'));
    edit.weights(tensors);
    saveSafetensors(path.join(out, 'model.safetensors'), tensors, { format: 'pt' });
  }
  return out;
}

describe('GPT-2', () => {
  const g = goldens.gpt2;

  test.each(['gpt2', 'gpt2-plain', 'gpt2-sharded'])(
    '%s: logits of the padded batch and greedy generations match the reference',
    (name) => {
      const { model, tokenizer, config } = fromHuggingFace(path.join(GOLDEN, name));
      expect(model).toBeInstanceOf(GPT);
      const gpt = model as GPT;
      expect(gpt.training).toBe(false);
      expect(gpt.config).toMatchObject({ activation: 'gelu_tanh', normFirst: true, tieEmbeddings: true });
      expect(config.model_type).toBe('gpt2');
      expect(relError(gpt.forward(ids(g.ids)), g.logits)).toBeLessThanOrEqual(1e-4);
      const generated = greedy(gpt, ids(g.prompts), { maxLength: 10, eosId: null });
      expect(generated.sequences).toEqual(rows(g.generated).map((r) => r.slice(g.prompts.shape[1])));
      expect(tokenizer).not.toBeNull();
      expect(tokenizer!.decode(tokenizer!.encode('the cat sat'))).toBe('the cat sat');
      gpt.dispose();
    },
  );

  test.each([
    ['gpt2-f16', 'logitsF16'],
    ['gpt2-bf16', 'logitsBF16'],
  ])('%s: half-precision weights load as float32 and give the reference logits', (name, key) => {
    const { model } = fromHuggingFace(path.join(GOLDEN, name));
    expect(relError((model as GPT).forward(ids(g.ids)), g[key])).toBeLessThanOrEqual(1e-4);
    model.dispose();
  });

  test('unsupported options, architectures and model types are errors naming them', () => {
    const gpt2 = (edit: (c: Record<string, unknown>) => void) => () =>
      fromHuggingFace(variant('gpt2', { config: edit }));
    expectError(
      gpt2((c) => (c.scale_attn_by_inverse_layer_idx = true)),
      'RangeError',
      /scale_attn_by_inverse_layer_idx = true is not supported/,
    );
    expectError(
      gpt2((c) => (c.activation_function = 'silu')),
      'RangeError',
      /activation_function "silu" is not supported \(supported: gelu_new/,
    );
    expectError(
      gpt2((c) => (c.architectures = ['GPT2ForSequenceClassification'])),
      'RangeError',
      /architecture 'GPT2ForSequenceClassification' is not supported for gpt2/,
    );
    expectError(
      gpt2((c) => (c.model_type = 'llama')),
      'RangeError',
      /model_type "llama" is not supported \(supported: gpt2, bert, bart\)/,
    );
    expectError(
      gpt2((c) => (c.n_embd = 0)),
      'RangeError',
      /n_embd must be a positive integer, got 0/,
    );
    expectError(() => fromHuggingFace(path.join(dir, 'nowhere')), 'Error', /is not a folder/);
  });

  test('missing, unexpected and mis-shaped tensors are all named, before any weight is read', () => {
    const folder = variant('gpt2-plain', {
      weights: (w) => {
        w.delete('h.1.ln_2.bias');
        w.set('h.0.attn.extra', tensor([1]));
        w.set('wpe.weight', tensor(new Float32Array(5 * 32), { shape: [5, 32] }));
        w.set('ln_f.bias', tensor(new Int32Array(32), { dtype: 'int32' }));
      },
    });
    expectError(
      () => fromHuggingFace(folder),
      'Error',
      /missing tensors: 'h\.1\.ln_2\.bias'\n {2}unexpected tensors: 'h\.0\.attn\.extra'\n {2}wrong shape: 'wpe\.weight' is \[5, 32\], the config gives \[24, 32\]\n {2}wrong dtype: 'ln_f\.bias' is I32/,
    );
    fs.rmSync(path.join(folder, 'model.safetensors'));
    fs.writeFileSync(path.join(folder, 'pytorch_model.bin'), '');
    expectError(() => fromHuggingFace(folder), 'Error', /only pytorch_model\.bin, a pickle/);
  });
});

describe('BERT', () => {
  const g = goldens.bert;

  test('BertModel: hidden states with an attention mask and token types match the reference', () => {
    const { model, tokenizer } = fromHuggingFace(path.join(GOLDEN, 'bert'));
    expect(model).toBeInstanceOf(EncoderClassifier);
    const bert = model as EncoderClassifier;
    expect(bert.config).toMatchObject({ numClasses: 0, typeVocabSize: 2, layerNormEps: 1e-12, normFirst: false });
    const hidden = bert.forward(ids(g.ids), { attentionMask: ids(g.attentionMask), tokenTypeIds: ids(g.tokenTypeIds) });
    expect(relError(hidden, g.hidden)).toBeLessThanOrEqual(1e-4);
    // The default mask (ids == pad_token_id) is the same here.
    expect(relError(bert.forward(ids(g.ids), { tokenTypeIds: ids(g.tokenTypeIds) }), g.hidden)).toBeLessThanOrEqual(
      1e-4,
    );
    expect(tokenizer!.encode('The cat sat!', { addSpecialTokens: true })).toEqual([2, 5, 6, 7, 17, 3]);
    bert.dispose();
  });

  test('BertForSequenceClassification: class logits match the reference', () => {
    const { model, config } = fromHuggingFace(path.join(GOLDEN, 'bert-classifier'));
    const bert = model as EncoderClassifier;
    expect(bert.config.numClasses).toBe(3);
    expect(config.id2label).toEqual({ 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
    const logits = bert.forward(ids(g.ids), { attentionMask: ids(g.attentionMask), tokenTypeIds: ids(g.tokenTypeIds) });
    expect(relError(logits, g.logits)).toBeLessThanOrEqual(1e-4);
    bert.dispose();
  });

  test('numLabels puts a new classification head on an encoder checkpoint, to fine-tune', () => {
    const encoder = fromHuggingFace(path.join(GOLDEN, 'bert')).model;
    const { model } = fromHuggingFace(path.join(GOLDEN, 'bert'), { numLabels: 2 });
    const classifier = model as EncoderClassifier;
    expect(classifier.config.numClasses).toBe(2);
    expect(classifier.forward(ids(g.ids)).shape).toEqual([2, 2]);
    const loaded = encoder.stateDict();
    for (const [key, t] of classifier.stateDict())
      if (!key.startsWith('classifier.')) expect([key, t.dataSync()]).toEqual([key, loaded.get(key)!.dataSync()]);
    encoder.dispose();
    model.dispose();
    expectError(
      () => fromHuggingFace(path.join(GOLDEN, 'bert-classifier'), { numLabels: 5 }),
      'RangeError',
      /numLabels 5 differs from the 3 labels/,
    );
    expectError(
      () => fromHuggingFace(path.join(GOLDEN, 'gpt2'), { numLabels: 2 }),
      'RangeError',
      /numLabels applies to bert/,
    );
    expectError(
      () => fromHuggingFace(path.join(GOLDEN, 'bert'), { labels: 2 } as object),
      'TypeError',
      /unknown option 'labels'/,
    );
  });

  test('pre-training heads load as the encoder; other options are errors naming them', () => {
    const pretraining = variant('bert-classifier', {
      config: (c) => (c.architectures = ['BertForMaskedLM']),
      weights: (w) => {
        w.delete('classifier.weight');
        w.delete('classifier.bias');
        w.set('cls.predictions.bias', tensor(new Float32Array(71)));
        w.set(
          'bert.embeddings.position_ids',
          tensor(
            Int32Array.from({ length: 24 }, (_, i) => i),
            { dtype: 'int32', shape: [1, 24] },
          ),
        );
      },
    });
    const { model } = fromHuggingFace(pretraining);
    expect((model as EncoderClassifier).config.numClasses).toBe(0);
    model.dispose();
    const bert = (edit: (c: Record<string, unknown>) => void) => () =>
      fromHuggingFace(variant('bert', { config: edit }));
    expectError(
      bert((c) => (c.position_embedding_type = 'relative_key')),
      'RangeError',
      /position_embedding_type = "relative_key" is not supported/,
    );
    expectError(
      bert((c) => (c.architectures = ['BertForQuestionAnswering'])),
      'RangeError',
      /'BertForQuestionAnswering' is not supported for bert/,
    );
    expectError(
      () => fromHuggingFace(variant('bert', { weights: (w) => w.set('classifier.weight', tensor([1])) })),
      'Error',
      /unexpected tensors: 'classifier\.weight'/,
    );
  });
});

describe('BART', () => {
  const g = goldens.bart;

  test('BartForConditionalGeneration: logits with padded sources and targets, and greedy decoding', () => {
    const { model, tokenizer } = fromHuggingFace(path.join(GOLDEN, 'bart'));
    expect(model).toBeInstanceOf(Seq2SeqTransformer);
    const bart = model as Seq2SeqTransformer;
    expect(bart.config).toMatchObject({ padId: 1, positionOffset: 2, embeddingNorm: true, finalNorm: false });
    expect(relError(bart.forward(ids(g.src), ids(g.tgtIn)), g.logits)).toBeLessThanOrEqual(1e-4);
    const expected = rows(g.generated).map((r) => {
      const tokens = r.slice(1);
      const end = tokens.indexOf(2);
      return end < 0 ? tokens : tokens.slice(0, end + 1);
    });
    for (const useCache of [true, false]) {
      const out = greedy(bart, ids(g.src), { bosId: 2, eosId: 2, maxLength: 10, useCache });
      expect(out.sequences).toEqual(expected);
    }
    expect(tokenizer!.encode('the cat', { addSpecialTokens: true })).toEqual([0, ...tokenizer!.encode('the cat'), 2]);
    bart.dispose();
  });

  test('unequal encoder and decoder widths are an error naming both', () => {
    const folder = variant('bart', { config: (c) => (c.decoder_ffn_dim = 128) });
    expectError(() => fromHuggingFace(folder), 'RangeError', /encoder_ffn_dim 64 and decoder_ffn_dim 128 differ/);
  });
});

describe('saveHuggingFace', () => {
  test.each(['gpt2', 'bert', 'bert-classifier', 'bart'])(
    '%s: the written folder holds the original HF tensors and config, and reads back exactly',
    (name) => {
      const first = fromHuggingFace(path.join(GOLDEN, name));
      const out = path.join(dir, 'saved');
      saveHuggingFace(first.model, out, { tokenizer: first.tokenizer, config: first.config });
      // Tensor names, layouts and values as HF wrote them (less the buffers and tied copies it may omit).
      const original = loadSafetensors(path.join(GOLDEN, name, 'model.safetensors')).tensors;
      const saved = loadSafetensors(path.join(out, 'model.safetensors'));
      expect(saved.metadata).toEqual({ format: 'pt' });
      const omitted = /\.attn\.(masked_)?bias$|embed_tokens\.weight$/;
      expect([...saved.tensors.keys()]).toEqual([...original.keys()].filter((k) => !omitted.test(k)));
      for (const [key, t] of saved.tensors) {
        expect(t.shape).toEqual(original.get(key)!.shape);
        expect(Buffer.from(t.dataSync().buffer).equals(Buffer.from(original.get(key)!.dataSync().buffer))).toBe(true);
      }
      const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
      const goldenConfig = JSON.parse(fs.readFileSync(path.join(GOLDEN, name, 'config.json'), 'utf8'));
      for (const [key, value] of Object.entries(config))
        if (key !== 'n_inner') expect([key, value]).toEqual([key, goldenConfig[key] ?? value]);
      expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe(
        JSON.stringify(JSON.parse(fs.readFileSync(path.join(GOLDEN, name, 'tokenizer.json'), 'utf8'))),
      );
      const second = fromHuggingFace(out);
      expect(second.model.config).toEqual(first.model.config);
      const a = first.model.stateDict();
      const b = second.model.stateDict();
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [key, t] of a) expect([key, b.get(key)!.dataSync()]).toEqual([key, t.dataSync()]);
      first.model.dispose();
      second.model.dispose();
    },
  );

  test('label names given in options.config are kept; any other count falls back to LABEL_i', () => {
    const { model, config } = fromHuggingFace(path.join(GOLDEN, 'bert-classifier'));
    const named = { ...config, id2label: { 0: 'neg', 1: 'neutral', 2: 'pos' } };
    saveHuggingFace(model, path.join(dir, 'named'), { config: named });
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'named', 'config.json'), 'utf8'));
    expect([written.id2label, written.label2id]).toEqual([
      { 0: 'neg', 1: 'neutral', 2: 'pos' },
      { neg: 0, neutral: 1, pos: 2 },
    ]);
    saveHuggingFace(model, path.join(dir, 'unnamed'), { config: { id2label: { 0: 'a' } } });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'unnamed', 'config.json'), 'utf8')).id2label).toEqual({
      0: 'LABEL_0',
      1: 'LABEL_1',
      2: 'LABEL_2',
    });
    model.dispose();
  });

  test('models without an HF equivalent, and bad arguments, are errors naming the option', () => {
    const gpt = new GPT({ vocabSize: 10, contextLength: 8, dModel: 8, nhead: 2, numLayers: 1, normFirst: false });
    expectError(() => saveHuggingFace(gpt, dir), 'RangeError', /normFirst false has no GPT-2 equivalent/);
    const s2s = new Seq2SeqTransformer({
      srcVocabSize: 10,
      tgtVocabSize: 10,
      dModel: 8,
      nhead: 2,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
    });
    expectError(
      () => saveHuggingFace(s2s, dir),
      'RangeError',
      /no BART equivalent: BART needs positional "learned" \(has "sinusoidal"\)/,
    );
    expectError(
      () => saveHuggingFace({} as GPT, dir),
      'TypeError',
      /model must be a GPT, an EncoderClassifier or a Seq2SeqTransformer/,
    );
    gpt.dispose();
    s2s.dispose();
  });
});
