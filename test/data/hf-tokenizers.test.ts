// Hugging Face tokenizer.json: files trained and saved by HF's own library (the Rust implementation, through
// @anush008/tokenizers) load here and give identical ids and decoded text; unsupported parts and malformed
// files are errors that name them.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as hf from '@anush008/tokenizers';
import {
  ByteLevelBPETokenizer,
  HuggingFaceTokenizer,
  loadTokenizer,
  tokenizerFromJSON,
} from '../../src/data/tokenizers';
import { expectIdentical, expectSame, makeCorpus, specialToken, STRESS, toCodeUnits } from './hf-reference';

interface Case {
  name: string;
  edit: (json: Record<string, unknown>) => void;
}

let dir: string;
let corpus: string[];
let base: Record<string, unknown>;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-hf-tokenizers-'));
  corpus = makeCorpus(6000);
  const corpusFile = path.join(dir, 'corpus.txt');
  fs.writeFileSync(corpusFile, corpus.join('\n'));
  const ref = new hf.Tokenizer(hf.BPE.empty());
  ref.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  ref.train([corpusFile]);
  ref.addSpecialTokens(['<|endoftext|>']);
  ref.setPostProcessor(hf.byteLevelProcessing(true));
  const file = path.join(dir, 'trained.json');
  ref.save(file);
  base = JSON.parse(fs.readFileSync(file, 'utf8'));
  // The binding has no ByteLevel decoder builder; HF's files carry this one.
  base.decoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function variant(edit: Case['edit']): Record<string, unknown> {
  const json = structuredClone(base);
  edit(json);
  return json;
}

const model = (j: Record<string, unknown>) => j.model as Record<string, unknown>;
const endOfText = (j: Record<string, unknown>) => (j.added_tokens as Array<{ id: number }>)[0].id;

const CASES: Case[] = [
  { name: 'GPT-2 style (no prefix space, merges as pairs)', edit: () => {} },
  {
    name: 'merges as "a b" strings, prefix space',
    edit: (j) => {
      model(j).merges = (model(j).merges as string[][]).map((m) => m.join(' '));
      (j.pre_tokenizer as Record<string, unknown>).add_prefix_space = true;
    },
  },
  {
    name: 'no regex split',
    edit: (j) => {
      (j.pre_tokenizer as Record<string, unknown>).use_regex = false;
    },
  },
  {
    name: 'RobertaProcessing',
    edit: (j) => {
      const id = endOfText(j);
      j.post_processor = {
        type: 'RobertaProcessing',
        sep: ['<|endoftext|>', id],
        cls: ['<|endoftext|>', id],
        trim_offsets: true,
        add_prefix_space: false,
      };
    },
  },
  {
    name: 'TemplateProcessing, and an added non-special token',
    edit: (j) => {
      const id = endOfText(j);
      const added = j.added_tokens as unknown[];
      added.push({
        id: id + 1,
        content: 'world',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: false,
      });
      j.post_processor = {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '<|endoftext|>', type_id: 0 } },
          { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [id], tokens: ['<|endoftext|>'] } },
      };
    },
  },
];

describe.each(CASES)('tokenizer.json from HF: $name', ({ edit }) => {
  test('identical ids (with and without special tokens) and decoded text', async () => {
    const pairs: Array<[string, string]> = [
      ['Hello world.', 'The pair of it.'],
      ['', 'b'],
      [STRESS[8], STRESS[7]],
    ];
    await expectIdentical(variant(edit), [...corpus, ...STRESS], pairs);
  });
});

const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/** A BERT-style tokenizer.json: WordPiece trained by HF, then BERT's special tokens, processor and decoder. */
function bertJSON(trained: Record<string, unknown>): Record<string, unknown> {
  const json = structuredClone(trained);
  const vocab = model(json).vocab as Record<string, number>;
  const ids = BERT_SPECIALS.map((token) => (vocab[token] ??= Object.keys(vocab).length));
  json.added_tokens = BERT_SPECIALS.map((content, i) => specialToken(ids[i], content));
  json.post_processor = { type: 'BertProcessing', sep: ['[SEP]', ids[3]], cls: ['[CLS]', ids[2]] };
  json.decoder = { type: 'WordPiece', prefix: '##', cleanup: true };
  return json;
}

const WORDPIECE_CASES: Case[] = [
  { name: 'BERT uncased', edit: () => {} },
  {
    name: 'cased, accents kept, TemplateProcessing',
    edit: (j) => {
      j.normalizer = {
        type: 'BertNormalizer',
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: false,
        lowercase: false,
      };
      const cls = (j.added_tokens as Array<{ id: number }>)[2].id;
      const sep = (j.added_tokens as Array<{ id: number }>)[3].id;
      j.post_processor = {
        type: 'TemplateProcessing',
        single: [
          { SpecialToken: { id: '[CLS]', type_id: 0 } },
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '[SEP]', type_id: 0 } },
        ],
        pair: [
          { SpecialToken: { id: '[CLS]', type_id: 0 } },
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '[SEP]', type_id: 0 } },
          { Sequence: { id: 'B', type_id: 1 } },
          { SpecialToken: { id: '[SEP]', type_id: 1 } },
        ],
        special_tokens: {
          '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
          '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
        },
      };
    },
  },
  {
    name: 'Sequence of NFD, Lowercase, StripAccents; Whitespace pre-tokenizer; no cleanup',
    edit: (j) => {
      j.normalizer = {
        type: 'Sequence',
        normalizers: [{ type: 'NFD' }, { type: 'Lowercase' }, { type: 'StripAccents' }],
      };
      j.pre_tokenizer = { type: 'Whitespace' };
      j.decoder = { type: 'WordPiece', prefix: '##', cleanup: false };
    },
  },
  {
    name: 'NFKC and WhitespaceSplit',
    edit: (j) => {
      j.normalizer = { type: 'NFKC' };
      j.pre_tokenizer = { type: 'WhitespaceSplit' };
    },
  },
];

const BERT_STRESS = [
  ...STRESS.filter((s) => !s.includes('<|endoftext|>')),
  'Hello[SEP]world [CLS] [MASK]. [UNK][PAD]',
  'ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΥΣ Straße İstanbul ǅemal',
  "Don't do not say it 's so , he 've been ! ? ' quoted '",
  'ｆｕｌｌｗｉｄｔｈ ① ﬁ Å Ω ㍻',
  'zero\u200bwidth\u200djoiner \u00ad soft hyphen \ue000 private',
];

describe('tokenizer.json from HF: WordPiece', () => {
  let trained: Record<string, unknown>;

  beforeAll(() => {
    const ref = new hf.Tokenizer(hf.WordPiece.empty());
    ref.setNormalizer(hf.bertNormalizer({}));
    ref.setPreTokenizer(hf.bertPreTokenizer());
    ref.train([path.join(dir, 'corpus.txt')]);
    const file = path.join(dir, 'wordpiece.json');
    ref.save(file);
    trained = bertJSON(JSON.parse(fs.readFileSync(file, 'utf8')));
  });

  test.each(WORDPIECE_CASES)('$name: identical ids and decoded text', async ({ edit }) => {
    const json = structuredClone(trained);
    edit(json);
    await expectIdentical(json, [...corpus, ...BERT_STRESS], [['Is it?', 'Yes.']]);
  });

  test('special-token ids, and a word longer than max_input_chars_per_word is [UNK]', () => {
    const tok = tokenizerFromJSON(trained);
    const [pad, unk, cls, sep] = BERT_SPECIALS.map((t) => tok.tokenToId(t));
    expect([tok.padId, tok.unkId, tok.bosId, tok.eosId]).toEqual([pad, unk, cls, sep]);
    expect(tok.encode('a'.repeat(101))).toEqual([unk]);
    expect(() => tokenizerFromJSON({ ...trained, model: { ...model(trained), unk_token: '[NONE]' } })).toThrow(
      /field "model.unk_token" names "\[NONE\]"/,
    );
  });
});

describe('ByteLevelBPETokenizer.saveHuggingFace', () => {
  let ours: ByteLevelBPETokenizer;
  let file: string;

  beforeAll(() => {
    ours = ByteLevelBPETokenizer.train(corpus, { vocabSize: 1200 });
    const folder = path.join(dir, 'ours');
    fs.mkdirSync(folder);
    ours.saveHuggingFace(folder);
    file = path.join(folder, 'tokenizer.json');
  });

  test("HF's library loads the file and encodes and decodes exactly as ours", async () => {
    const ref = hf.Tokenizer.fromFile(file);
    expect(ref.getVocabSize(true)).toBe(ours.vocabSize);
    const texts = [...corpus, ...STRESS.filter((t) => !t.includes('<|endoftext|>'))];
    for (const addSpecialTokens of [false, true]) {
      const got = (await ref.encodeBatch(texts, { addSpecialTokens })).map((e) => e.getIds());
      const expected = ours.encodeBatch(texts, { addSpecialTokens });
      expectSame(texts, got, expected);
      for (const skip of [true, false]) {
        const decoded = await ref.decodeBatch(expected, skip);
        expectSame(
          texts,
          decoded,
          expected.map((ids) => ours.decode(ids, { skipSpecialTokens: skip })),
        );
      }
    }
    // The one difference: HF matches the specials' names in text; this class encodes them as bytes.
    expect((await ref.encode('a<eos>', null, { addSpecialTokens: false })).getIds()).toEqual([
      ...ours.encode('a'),
      ours.eosId,
    ]);
  });

  test('loadTokenizer reads the file back with the same ids and specials', () => {
    const back = loadTokenizer(file);
    expect(back).toBeInstanceOf(HuggingFaceTokenizer);
    expect([back.padId, back.bosId, back.eosId, back.unkId]).toEqual([0, 1, 2, 3]);
    const texts = [...corpus.slice(0, 500), ...STRESS.filter((t) => !t.includes('<|endoftext|>'))];
    expect(back.encodeBatch(texts, { addSpecialTokens: true })).toEqual(
      ours.encodeBatch(texts, { addSpecialTokens: true }),
    );
    const file2 = path.join(dir, 'ours-file.json');
    ours.saveHuggingFace(file2);
    expect(fs.readFileSync(file2, 'utf8')).toBe(fs.readFileSync(file, 'utf8'));
    expect(() => ours.saveHuggingFace('')).toThrow(/saveHuggingFace: path must be a non-empty string/);
  });
});

describe('loadTokenizer with HF files', () => {
  test('a folder holding tokenizer.json, the file itself, and save() writes HF format back', async () => {
    const folder = path.join(dir, 'model');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'tokenizer.json'), JSON.stringify(base));
    const fromFolder = loadTokenizer(folder);
    const fromFile = loadTokenizer(path.join(folder, 'tokenizer.json'));
    expect(fromFolder).toBeInstanceOf(HuggingFaceTokenizer);
    const text = 'It was the first time.<|endoftext|>';
    expect(fromFile.encode(text)).toEqual(fromFolder.encode(text));
    const copy = path.join(dir, 'copy.json');
    fromFolder.save(copy);
    expect(loadTokenizer(copy).encode(text)).toEqual(fromFolder.encode(text));
    expect((await hf.Tokenizer.fromFile(copy).encode(text, null)).getIds()).toEqual(fromFolder.encode(text));
    expect(tokenizerFromJSON(JSON.parse(JSON.stringify(fromFolder))).encode(text)).toEqual(fromFolder.encode(text));
  });

  test('special-token ids and flags', () => {
    const tok = tokenizerFromJSON(base);
    const id = endOfText(base);
    expect([tok.bosId, tok.eosId, tok.padId, tok.unkId]).toEqual([id, id, -1, -1]);
    expect(tok.isSpecialId(id)).toBe(true);
    expect(tok.isSpecialId(0)).toBe(false);
    expect(tok.tokenToId('<|endoftext|>')).toBe(id);
    expect(tok.decode([id])).toBe('');
    expect(tok.decode([id], { skipSpecialTokens: false })).toBe('<|endoftext|>');
  });

  test('added tokens: lstrip/rstrip absorb whitespace, single_word matches whole words only, as HF does', async () => {
    const json = variant((j) => {
      const id = endOfText(j);
      (j.added_tokens as unknown[]).push(
        {
          id: id + 1,
          content: '<mask>',
          single_word: false,
          lstrip: true,
          rstrip: false,
          normalized: false,
          special: true,
        },
        {
          id: id + 2,
          content: '<sep>',
          single_word: false,
          lstrip: false,
          rstrip: true,
          normalized: false,
          special: true,
        },
        {
          id: id + 3,
          content: 'cat',
          single_word: true,
          lstrip: false,
          rstrip: false,
          normalized: true,
          special: false,
        },
      );
    });
    const ref = hf.Tokenizer.fromString(JSON.stringify(json));
    const ours = tokenizerFromJSON(json) as HuggingFaceTokenizer;
    const texts = [
      'The <mask> was  <mask>.',
      'a <sep>  b<sep>c',
      '  <mask>  <sep>  ',
      '<mask><sep><mask>',
      'cat concat cats cat. (cat) catcat éca\u0301t 🙂cat cat_',
    ];
    for (const text of texts) {
      const expected = await ref.encode(text, null, { addSpecialTokens: false });
      expect(ours.encode(text)).toEqual(expected.getIds());
      expect(ours.encodeWithOffsets(text).offsets).toEqual(toCodeUnits(text, expected.getOffsets()));
    }
  });
});

describe('HF files this library cannot read exactly are errors', () => {
  const load = (edit: Case['edit']) => () => tokenizerFromJSON(variant(edit));

  test('unsupported components are named', () => {
    expect(load((j) => (j.normalizer = { type: 'Precompiled', precompiled_charsmap: '' }))).toThrow(
      "tokenizer.json: normalizer 'Precompiled' is not supported",
    );
    expect(load((j) => (j.pre_tokenizer = { type: 'UnicodeScripts' }))).toThrow(
      "tokenizer.json: pre_tokenizer 'UnicodeScripts' is not supported",
    );
    expect(load((j) => (j.decoder = { type: 'CTC' }))).toThrow("tokenizer.json: decoder 'CTC' is not supported");
    expect(load((j) => (j.post_processor = { type: 'Sequence', processors: [] }))).toThrow(
      "tokenizer.json: post_processor 'Sequence' is not supported",
    );
    expect(load((j) => (j.normalizer = { type: 'Sequence', normalizers: [{ type: 'Nmt' }] }))).toThrow(
      "tokenizer.json: normalizer 'Nmt' is not supported",
    );
    expect(load((j) => (j.model = { type: 'CharLevel', vocab: {} }))).toThrow(
      "tokenizer.json: model 'CharLevel' is not supported",
    );
    expect(
      load((j) => (j.decoder = { type: 'Sequence', decoders: [{ type: 'Fuse' }, { type: 'BPEDecoder' }] })),
    ).toThrow("tokenizer.json: decoder 'BPEDecoder' is not supported");
    expect(
      load(
        (j) => (j.pre_tokenizer = { type: 'Split', pattern: { Regex: '(?i)a' }, behavior: 'Isolated', invert: false }),
      ),
    ).toThrow(/pre_tokenizer.pattern.Regex.*not supported/);
    expect(load((j) => (model(j).dropout = 0.1))).toThrow(/model\.dropout/);
    expect(load((j) => (j.truncation = { max_length: 8 }))).toThrow(/"truncation" settings are not supported/);
  });

  test('malformed files name the field', () => {
    expect(() => tokenizerFromJSON({ model: { vocab: {} } })).toThrow(/field "model.type" must be a string/);
    expect(load((j) => (model(j).vocab = []))).toThrow(/field "model.vocab" must be an object/);
    expect(load((j) => (model(j).vocab = { a: -1 }))).toThrow(/field "model.vocab.a" must be a non-negative integer/);
    expect(load((j) => delete model(j).merges)).toThrow(/field "model.merges" must be an array/);
    expect(load((j) => (model(j).merges = ['a b c']))).toThrow(/field "model.merges\[0\]"/);
    expect(load((j) => (model(j).merges = [['a', 7]]))).toThrow(/field "model.merges\[0\]"/);
    expect(load((j) => (model(j).merges = [['zzz', 'q']]))).toThrow(/model.merges\[0\].*"zzz" is not in the vocab/);
    expect(load((j) => (model(j).unk_token = '<nope>'))).toThrow(/model.unk_token/);
    expect(load((j) => (j.added_tokens = [{ content: 'x' }]))).toThrow(/field "added_tokens\[0\].id"/);
    expect(load((j) => (j.added_tokens = [{ id: 1, content: 'x' }]))).toThrow(/added token "x" has id 1/);
    expect(load((j) => (j.added_tokens = [{ id: 100000, content: 'x' }]))).toThrow(/no token has id/);
    expect(load((j) => (j.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: 'yes' }))).toThrow(
      /field "pre_tokenizer.add_prefix_space" must be a boolean/,
    );
    expect(load((j) => (j.post_processor = { type: 'RobertaProcessing', sep: '</s>', cls: ['<s>', 0] }))).toThrow(
      /field "post_processor.sep" must be a pair/,
    );
    expect(load((j) => (j.post_processor = { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0] }))).toThrow(
      /field "post_processor.trim_offsets" must be a boolean/,
    );
    expect(
      load(
        (j) => (j.post_processor = { type: 'TemplateProcessing', single: [{ SpecialToken: { id: 'X' } }], pair: [] }),
      ),
    ).toThrow(/post_processor.single\[0\].SpecialToken.id" names "X"/);
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{"model": ');
    expect(() => loadTokenizer(file)).toThrow(/loadTokenizer: cannot read a tokenizer/);
  });
});
