// The rest of HF's tokenizer.json components against HF's own library, on the Brown corpus and the stress set:
// Unigram (SentencePiece style: Metaspace, byte fallback, unk) and BPE under each pre-tokenizer and normalizer
// option. Tokenizers are trained by the reference, then edited to combine components.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as hf from '@anush008/tokenizers';
import { CharTokenizer, Tokenizer, tokenizerFromJSON, WordTokenizer } from '../../src/data/tokenizers';
import { brownCorpus, expectIdentical, expectSame, makeCorpus, specialToken, STRESS } from './hf-reference';

type JSONObject = Record<string, unknown>;

let dir: string;
let texts: string[];
let unigram: JSONObject;
let bpe: JSONObject;

const PAIRS: Array<[string, string]> = [
  ['Hello world.', 'The pair of it.'],
  ['', 'b'],
];

// HF's Unigram trainer gives slightly different scores from run to run (also with TOKENIZERS_PARALLELISM=false),
// and about one trained model in four then holds a tie (two segmentations with the same score sum, e.g. "5" + "55"
// against "55" + "5") that HF breaks the other way from ours, though both keep the first of equal paths: probably
// a last-bit difference in how the scores are read. So the model it trained on this corpus is kept as a fixture,
// encoded live by HF in every run; TN_REGENERATE_FIXTURES=1 trains anew.
const UNIGRAM_FIXTURE = path.join(__dirname, 'fixtures', 'hf-unigram-brown.json.gz');

function trainedUnigram(corpusFile: string): JSONObject {
  if (process.env.TN_REGENERATE_FIXTURES !== '1' && fs.existsSync(UNIGRAM_FIXTURE))
    return JSON.parse(zlib.gunzipSync(fs.readFileSync(UNIGRAM_FIXTURE)).toString('utf8'));
  const trained = train(hf.Unigram.empty(), hf.metaspacePreTokenizer(), corpusFile);
  fs.writeFileSync(UNIGRAM_FIXTURE, zlib.gzipSync(JSON.stringify(trained), { level: 9 }));
  return trained;
}

/** The name of a byte's fallback token, e.g. <0x0A>. */
const byteToken = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

function train(model: hf.Model, pre: hf.PreTokenizer, file: string): JSONObject {
  const t = new hf.Tokenizer(model);
  t.setPreTokenizer(pre);
  t.train([file]);
  const out = path.join(dir, `trained-${Math.random().toString(36).slice(2)}.json`);
  t.save(out);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-hf-components-'));
  const brown = brownCorpus(5000, path.join(dir, 'brown'));
  expect(brown.length).toBe(5000);
  const corpusFile = path.join(dir, 'corpus.txt');
  fs.writeFileSync(corpusFile, [...brown, ...makeCorpus(500)].join('\n'));
  texts = [...brown, ...STRESS];
  unigram = trainedUnigram(corpusFile);
  const pieces = (unigram.model as JSONObject).vocab as Array<[string, number]>;
  pieces.push(['<unk>', 0]);
  (unigram.model as JSONObject).unk_id = pieces.length - 1;
  bpe = train(hf.BPE.empty(), hf.whitespaceSplitPreTokenizer(), corpusFile);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function edited(base: JSONObject, edit: (j: JSONObject) => void): JSONObject {
  const json = structuredClone(base);
  edit(json);
  return json;
}

const metaspace = (scheme: string, split: boolean) => ({
  type: 'Metaspace',
  replacement: '▁',
  prepend_scheme: scheme,
  split,
});

/** Llama/SentencePiece style: a space before the text and spaces as \u2581 by normalizers (after `first`), no
 * pre-tokenizer, and the decoder that undoes it (bytes back to text, the first space dropped). */
function sentencePieceStyle(j: JSONObject, first: JSONObject[]): void {
  j.normalizer = {
    type: 'Sequence',
    normalizers: [
      ...first,
      { type: 'Prepend', prepend: '\u2581' },
      { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
    ],
  };
  j.pre_tokenizer = null;
  j.decoder = {
    type: 'Sequence',
    decoders: [
      { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
      { type: 'ByteFallback' },
      { type: 'Fuse' },
      { type: 'Strip', content: ' ', start: 1, stop: 0 },
    ],
  };
}

describe('Unigram', () => {
  test.each([
    ['always', true],
    ['first', true],
    ['never', false],
  ])('Metaspace prepend_scheme %s, split %s; an added token mid-text', async (scheme, split) => {
    const json = edited(unigram, (j) => {
      j.pre_tokenizer = metaspace(scheme as string, split as boolean);
      j.decoder = metaspace(scheme as string, split as boolean);
      const pieces = (j.model as JSONObject).vocab as unknown[];
      pieces.push(['<s>', 0]);
      j.added_tokens = [specialToken(pieces.length - 1, '<s>')];
    });
    await expectIdentical(json, [...texts, 'a<s>b c', '<s> x', 'x <s>'], PAIRS);
  });

  test('SentencePiece style: normalizers replace spaces and prepend, byte fallback, decoder sequence', async () => {
    const json = edited(unigram, (j) => {
      const model = j.model as JSONObject;
      const pieces = model.vocab as Array<[string, number]>;
      for (let b = 0; b < 256; b++) pieces.push([byteToken(b), 0]);
      model.byte_fallback = true;
      sentencePieceStyle(j, [{ type: 'NFKC' }]);
    });
    await expectIdentical(json, texts, PAIRS);
  });

  test('unknown characters fuse into one unk; without unk_id they are an error', async () => {
    const json = edited(unigram, () => {});
    await expectIdentical(json, ['日本語 ok ☃☃ x'], []);
    const noUnk = edited(unigram, (j) => ((j.model as JSONObject).unk_id = null));
    expect(() => tokenizerFromJSON(noUnk).encode('☃')).toThrow(/Unigram: .* no unk_id/);
  });
});

const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const BEHAVIORS = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

describe('BPE under each pre-tokenizer and normalizer', () => {
  const cases: Array<[string, (j: JSONObject) => void]> = [];
  for (const behavior of BEHAVIORS)
    for (const invert of [false, true]) {
      cases.push([
        `Split regex, ${behavior}, invert ${invert}`,
        (j) => (j.pre_tokenizer = { type: 'Split', pattern: { Regex: '\\s+|[.,;]' }, behavior, invert }),
      ]);
      cases.push([`Punctuation ${behavior}`, (j) => (j.pre_tokenizer = { type: 'Punctuation', behavior })]);
    }
  cases.push(
    [
      'Split string',
      (j) =>
        (j.pre_tokenizer = { type: 'Split', pattern: { String: 'th' }, behavior: 'MergedWithNext', invert: false }),
    ],
    ['Digits individual', (j) => (j.pre_tokenizer = { type: 'Digits', individual_digits: true })],
    ['Digits', (j) => (j.pre_tokenizer = { type: 'Digits', individual_digits: false })],
    [
      'Sequence of WhitespaceSplit, Digits, Punctuation; BertNormalizer without lowercase',
      (j) => {
        j.pre_tokenizer = {
          type: 'Sequence',
          pretokenizers: [
            { type: 'WhitespaceSplit' },
            { type: 'Digits', individual_digits: true },
            { type: 'Punctuation' },
          ],
        };
        j.normalizer = {
          type: 'BertNormalizer',
          clean_text: true,
          handle_chinese_chars: true,
          strip_accents: true,
          lowercase: false,
        };
      },
    ],
    [
      'Replace regex and NFD, StripAccents, Lowercase; Metaspace split',
      (j) => {
        j.normalizer = {
          type: 'Sequence',
          normalizers: [
            { type: 'Replace', pattern: { Regex: '\\d+' }, content: '#' },
            { type: 'NFD' },
            { type: 'StripAccents' },
            { type: 'Lowercase' },
          ],
        };
        j.pre_tokenizer = metaspace('always', true);
      },
    ],
    [
      'NFC after NFD, Split on \\w runs',
      (j) => {
        j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'NFC' }] };
        j.pre_tokenizer = { type: 'Split', pattern: { Regex: '\\w+' }, behavior: 'Isolated', invert: false };
      },
    ],
    [
      'Llama style: byte_fallback and fuse_unk, spaces as \u2581 by normalizers, no pre-tokenizer',
      (j) => {
        const model = j.model as JSONObject;
        const vocab = model.vocab as Record<string, number>;
        // Bytes for most characters, but not for 0xE3 (CJK), so that some characters still fall back to unk.
        for (let b = 0; b < 256; b++) if (b !== 0xe3) vocab[byteToken(b)] = Object.keys(vocab).length;
        model.byte_fallback = true;
        model.fuse_unk = true;
        sentencePieceStyle(j, []);
      },
    ],
    [
      "Split with Llama 3's regex (a case-insensitive group)",
      (j) => {
        j.pre_tokenizer = {
          type: 'Split',
          pattern: { Regex: LLAMA3_SPLIT },
          behavior: 'Isolated',
          invert: false,
        };
      },
    ],
    [
      'fuse_unk with unk tokens, ignore_merges',
      (j) => {
        const model = j.model as JSONObject;
        model.fuse_unk = true;
        model.ignore_merges = true;
      },
    ],
  );

  test.each(cases)('%s', async (_name, edit) => {
    const json = edited(bpe, (j) => {
      const model = j.model as JSONObject;
      const vocab = model.vocab as Record<string, number>;
      vocab['[UNK]'] = Object.keys(vocab).length;
      model.unk_token = '[UNK]';
      edit(j);
    });
    // 1,000 Brown lines per variant keep the suite's time down; the Unigram cases above run all 5,000.
    await expectIdentical(json, [...texts.slice(0, 1000), ...STRESS, "IT'S HE'LL We'Re 1234567 x\r\n\r\n y"], PAIRS);
  });
});

describe('saveHuggingFace of WordTokenizer and CharTokenizer: HF loads the file and encodes identically', () => {
  // HF also matches the specials' names in text, which these classes encode as text: leave them out.
  const plain = () => texts.filter((t) => !/<(pad|bos|eos|unk)>/.test(t));

  async function expectSameAsHF(ours: Tokenizer & { saveHuggingFace(p: string): void }, name: string) {
    const file = path.join(dir, `${name}.json`);
    ours.saveHuggingFace(file);
    const ref = hf.Tokenizer.fromFile(file);
    expect(ref.getVocabSize(true)).toBe(ours.vocabSize);
    const inputs = plain();
    for (const addSpecialTokens of [false, true]) {
      const got = (await ref.encodeBatch(inputs, { addSpecialTokens })).map((e) => e.getIds());
      expectSame(inputs, got, ours.encodeBatch(inputs, { addSpecialTokens }));
    }
    // Our loader reads the file back as HF does, offsets included.
    await expectIdentical(JSON.parse(fs.readFileSync(file, 'utf8')), inputs, PAIRS);
    return { ref, inputs };
  }

  test.each([false, true])('WordTokenizer (lowercase %s); HF decodes with spaces between tokens', async (lowercase) => {
    const ours = WordTokenizer.fromCorpus(texts.slice(0, 4000), { maxSize: 3000, lowercase });
    const { ref, inputs } = await expectSameAsHF(ours, `word-${lowercase}`);
    const ids = ours.encodeBatch(inputs);
    expectSame(
      inputs,
      await ref.decodeBatch(ids, true),
      ids.map((seq) =>
        seq
          .map((id) => ours.idToToken(id))
          .filter((_, i) => !ours.isSpecialId(seq[i]))
          .join(' '),
      ),
    );
  });

  test('CharTokenizer, with characters outside its alphabet; identical decoded text', async () => {
    const ours = CharTokenizer.fromCorpus(texts.slice(0, 4000), { maxSize: 70 });
    const { ref, inputs } = await expectSameAsHF(ours, 'char');
    for (const skip of [true, false]) {
      const ids = ours.encodeBatch(inputs, { addSpecialTokens: true });
      expectSame(
        inputs,
        await ref.decodeBatch(ids, skip),
        ids.map((seq) => ours.decode(seq, { skipSpecialTokens: skip })),
      );
    }
  });
});
