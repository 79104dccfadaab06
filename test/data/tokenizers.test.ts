// Tokenizers: round trips, special tokens, unknowns, JSON save/load, BPE merges on hand-checked corpora.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ByteLevelBPETokenizer,
  CharTokenizer,
  loadTokenizer,
  pretokenize,
  tokenizerFromJSON,
  WordTokenizer,
} from '../../src/data/tokenizers';
import { expectError, rng } from '../helpers';

const SAMPLES = [
  '',
  'hello world',
  '  leading and trailing spaces  ',
  'tabs\tand\nnew\r\nlines\n\n',
  'ünïcödé: 日本語のテキスト, emoji 👩‍👩‍👧 and 🎉!',
  "it's what they'd've said... 3.14159 $12,000",
  ' ',
  '\u0000\u0001 control \u007f bytes',
];

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tn-tokenizers-'));
}

describe('CharTokenizer', () => {
  const tok = CharTokenizer.fromCorpus(['hello world', 'hold']);

  test('specials at fixed ids, alphabet by frequency', () => {
    expect([tok.padId, tok.bosId, tok.eosId, tok.unkId]).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2, 3].map((i) => tok.idToToken(i))).toEqual(['<pad>', '<bos>', '<eos>', '<unk>']);
    // l: 4, o: 3, d/h: 2 (d before h), then single characters in code unit order.
    expect(tok.alphabet).toEqual(['l', 'o', 'd', 'h', ' ', 'e', 'r', 'w']);
    expect(tok.vocabSize).toBe(12);
    expect(tok.tokenToId('l')).toBe(4);
    expect(tok.tokenToId('z')).toBeUndefined();
    expect(tok.idToToken(12)).toBeUndefined();
  });

  test('round trips, unknowns, special tokens', () => {
    expect(tok.decode(tok.encode('hello world'))).toBe('hello world');
    expect(tok.encode('')).toEqual([]);
    expect(tok.encode('hz', { addSpecialTokens: true })).toEqual([1, 7, 3, 2]);
    expect(tok.decode([1, 7, 3, 2])).toBe('h');
    expect(tok.decode([1, 7, 3, 2], { skipSpecialTokens: false })).toBe('<bos>h<unk><eos>');
  });

  test('code points, not UTF-16 units; explicit alphabet keeps its order', () => {
    const t = new CharTokenizer(['🎉', 'é', 'a']);
    expect(t.encode('a🎉é')).toEqual([6, 4, 5]);
    expect(t.decode(t.encode('é🎉a'))).toBe('é🎉a');
    expect(new CharTokenizer('abc').alphabet).toEqual(['a', 'b', 'c']);
  });

  test('minFrequency and maxSize', () => {
    const t = CharTokenizer.fromCorpus(['aaabbc'], { minFrequency: 2 });
    expect(t.alphabet).toEqual(['a', 'b']);
    expect(CharTokenizer.fromCorpus(['aaabbc'], { maxSize: 5 }).alphabet).toEqual(['a']);
  });

  test('save/load equality', () => {
    const file = path.join(tempDir(), 'char.json');
    tok.save(file);
    const back = CharTokenizer.load(file);
    expect(back.toJSON()).toEqual(tok.toJSON());
    expect(back.encode('hello')).toEqual(tok.encode('hello'));
    expect(loadTokenizer(file)).toBeInstanceOf(CharTokenizer);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['char.json']); // no temporary file left behind
  });

  test('a failed save leaves the target and no temporary file behind', () => {
    const dir = tempDir();
    const target = path.join(dir, 'occupied');
    fs.mkdirSync(path.join(target, 'inner'), { recursive: true }); // renaming a file over a non-empty directory fails
    let error: unknown;
    try {
      tok.save(target);
    } catch (e) {
      error = e;
    }
    expect(error).toBeDefined();
    expect(fs.readdirSync(dir)).toEqual(['occupied']);
    expect(fs.readdirSync(target)).toEqual(['inner']);
  });

  test('bad input', () => {
    expectError(() => new CharTokenizer(['ab']), 'TypeError', /CharTokenizer: .*single characters.*"ab"/);
    expectError(() => new CharTokenizer(['a', 'a']), 'RangeError', /"a" appears twice/);
    expectError(() => tok.encode(5 as unknown as string), 'TypeError', /CharTokenizer.encode: text must be a string/);
    expectError(() => tok.decode([4, 99]), 'RangeError', /CharTokenizer.decode: id 99 at position 1/);
    expectError(() => tok.decode([1.5]), 'RangeError', /id 1.5/);
    expectError(() => CharTokenizer.fromCorpus(['a'], { maxSize: 3 }), 'RangeError', /maxSize 3/);
    expectError(
      () => CharTokenizer.fromJSON({ type: 'WordTokenizer', version: 1 }),
      'TypeError',
      /holds a WordTokenizer/,
    );
  });
});

describe('WordTokenizer', () => {
  const corpus = ['The cat sat on the mat.', "the dog didn't sit, the cat did!", 'A (small) cat'];
  const tok = WordTokenizer.fromCorpus(corpus, { lowercase: true });

  test('splits words and punctuation, keeps inner apostrophes', () => {
    expect(tok.split("Don't stop: (now)!")).toEqual(["don't", 'stop', ':', '(', 'now', ')', '!']);
    expect(new WordTokenizer([]).split('  ')).toEqual([]);
  });

  test('vocabulary by frequency, unknowns, specials', () => {
    expect(tok.words.slice(0, 2)).toEqual(['the', 'cat']);
    const ids = tok.encode('The cat flew.', { addSpecialTokens: true });
    expect(ids).toEqual([1, tok.tokenToId('the'), tok.tokenToId('cat'), 3, tok.tokenToId('.'), 2]);
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe('<bos> the cat <unk>. <eos>');
    expect(tok.decode(tok.encode('the (small) cat sat, on the mat.'))).toBe('the (small) cat sat, on the mat.');
    expect(tok.encode('')).toEqual([]);
  });

  test('minFrequency and maxSize (specials included in maxSize)', () => {
    const t = WordTokenizer.fromCorpus(corpus, { lowercase: true, minFrequency: 3 });
    expect(t.words).toEqual(['the', 'cat']);
    const small = WordTokenizer.fromCorpus(corpus, { lowercase: true, maxSize: 5 });
    expect(small.vocabSize).toBe(5);
    expect(small.words).toEqual(['the']);
  });

  test('an explicit vocabulary keeps case and order (e.g. phoneme tokens)', () => {
    const phonemes = new WordTokenizer(['AH0', 'EY1', 'Z']);
    expect(phonemes.encode('EY1 Z')).toEqual([5, 6]);
    expect(phonemes.decode([5, 6])).toBe('EY1 Z');
    expect(phonemes.encode('ey1')).toEqual([3]);
  });

  test('JSON round trip', () => {
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back).toBeInstanceOf(WordTokenizer);
    expect(back.toJSON()).toEqual(tok.toJSON());
    expect(back.encode('The Cat')).toEqual(tok.encode('the cat'));
  });
});

describe('ByteLevelBPETokenizer', () => {
  test('pre-tokenisation keeps leading spaces and covers the text', () => {
    expect(pretokenize("Hello world, it's 2024!  ok")).toEqual([
      'Hello',
      ' world',
      ',',
      ' it',
      "'s",
      ' 2024',
      '!',
      ' ',
      ' ok',
    ]);
    for (const s of SAMPLES) expect(pretokenize(s).join('')).toBe(s);
  });

  test('without merges: one token per byte, any string round-trips', () => {
    const tok = new ByteLevelBPETokenizer();
    expect(tok.vocabSize).toBe(260);
    expect(tok.encode('A')).toEqual([4 + 65]);
    expect(tok.encode('é')).toEqual([4 + 0xc3, 4 + 0xa9]);
    expect(tok.idToToken(4 + 32)).toBe('Ġ');
    for (const s of SAMPLES) expect(tok.decode(tok.encode(s))).toBe(s);
  });

  test('merges on a hand-checked corpus', () => {
    // Pieces: "ab" x1, " ab" x2, " abc" x1. Pair counts: (a,b) 4, (Ġ,a) 3, (b,c) 1 -> merge a+b;
    // then (Ġ,ab) 3, (ab,c) 1 -> merge Ġ+ab; then (Ġab,c) 1 < minFrequency 2 -> stop.
    const tok = ByteLevelBPETokenizer.train(['ab ab ab abc'], { vocabSize: 300, minFrequency: 2 });
    expect(tok.merges).toEqual([
      ['a', 'b'],
      ['Ġ', 'ab'],
    ]);
    expect(tok.vocabSize).toBe(262);
    expect(tok.encode(' ab ab')).toEqual([261, 261]);
    expect(tok.encode('abc')).toEqual([260, 4 + 99]);
    expect(tok.idToToken(261)).toBe('Ġab');
    // vocabSize caps the merges.
    expect(ByteLevelBPETokenizer.train(['ab ab ab abc'], { vocabSize: 261 }).merges).toEqual([['a', 'b']]);
    // minFrequency 1 allows the last merge.
    expect(ByteLevelBPETokenizer.train(['ab ab ab abc'], { vocabSize: 300, minFrequency: 1 }).merges).toEqual([
      ['a', 'b'],
      ['Ġ', 'ab'],
      ['Ġab', 'c'],
    ]);
  });

  test('ties go to the pair of lower ids', () => {
    // Pieces "ab", " ba": (Ġ,b), (a,b), (b,a) all occur once; Ġ (32) < a (97) < b (98).
    const tok = ByteLevelBPETokenizer.train(['ab ba'], { vocabSize: 300, minFrequency: 1 });
    expect(tok.merges).toEqual([
      ['Ġ', 'b'],
      ['a', 'b'],
      ['Ġb', 'a'],
    ]);
    // Order of the corpus does not matter.
    expect(ByteLevelBPETokenizer.train([' ba', 'ab'], { vocabSize: 300, minFrequency: 1 }).merges).toEqual(tok.merges);
  });

  test('incremental training equals recounting every pair at every step', () => {
    const small = makeCorpus(300, 3);
    const tok = ByteLevelBPETokenizer.train(small, { vocabSize: 360, minFrequency: 2 });
    expect(tok.merges).toEqual(naiveMerges(small, 360 - 260, 2));
  });

  test('encode applies merges by rank, not left to right', () => {
    // Ranks: (b,c) first, then (a,b): "abc" must become a + bc, never ab + c.
    const tok = new ByteLevelBPETokenizer([
      ['b', 'c'],
      ['a', 'b'],
    ]);
    expect(tok.encode('abc').map((id) => tok.idToToken(id))).toEqual(['a', 'bc']);
    expect(tok.encode('abab').map((id) => tok.idToToken(id))).toEqual(['ab', 'ab']);
  });

  const corpus = makeCorpus(60_000, 7);

  test('training is deterministic; round trips, specials, compression', () => {
    const a = ByteLevelBPETokenizer.train(corpus, { vocabSize: 600 });
    const b = ByteLevelBPETokenizer.train(corpus, { vocabSize: 600 });
    expect(a.vocabSize).toBe(600);
    expect(a.merges).toEqual(b.merges);
    const text = corpus.slice(0, 20).join('\n');
    const ids = a.encode(text);
    expect(ids).toEqual(b.encode(text));
    expect(ids.length).toBeLessThan(Buffer.byteLength(text) / 2.5);
    expect(a.decode(ids)).toBe(text);
    for (const s of SAMPLES) expect(a.decode(a.encode(s))).toBe(s);
    for (const s of SAMPLES) expect(a.encode(s)).toEqual(a.encode(s)); // cached path agrees
    const wrapped = a.encode('hi', { addSpecialTokens: true });
    expect(wrapped[0]).toBe(1);
    expect(wrapped[wrapped.length - 1]).toBe(2);
    expect(a.decode(wrapped)).toBe('hi');
    expect(a.decode(wrapped, { skipSpecialTokens: false })).toBe('<bos>hi<eos>');
    // Special-token names in text are plain text, never specials.
    expect(a.encode('<eos>')).not.toContain(2);
    expect(a.decode(a.encode('<eos>'))).toBe('<eos>');
  });

  test('encode equals applying every merge in rank order; a long piece costs O(n log n), not O(n^2)', () => {
    const tok = ByteLevelBPETokenizer.train(corpus, { vocabSize: 500 });
    const reference = (piece: string): string[] => {
      let symbols = Array.from(Buffer.from(piece, 'utf8'), (b) => tok.idToToken(4 + b) as string);
      for (const [left, right] of tok.merges) {
        const out: string[] = [];
        for (let i = 0; i < symbols.length; i++) {
          if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
            out.push(left + right);
            i++;
          } else out.push(symbols[i]);
        }
        symbols = out;
      }
      return symbols;
    };
    const r = rng(5);
    const texts = [
      ...corpus.slice(0, 300),
      ...Array.from({ length: 200 }, () => corpus[Math.floor(r() * corpus.length)].replace(/ /g, '')),
    ];
    for (const text of texts) {
      const expected = pretokenize(text).flatMap(reference);
      expect(tok.encode(text).map((id) => tok.idToToken(id))).toEqual(expected);
    }
    const long = corpus
      .slice(0, 20_000)
      .join('')
      .replace(/[^a-z]/g, ''); // one piece of ~280k letters
    expect(long.length).toBeGreaterThan(50_000);
    // The work is counted, not timed (a time limit fails on a busy machine). Each lookup of a pair's merge queues a
    // candidate or checks a popped one, at O(log n) per queue operation: n - 1 lookups for the initial pairs, 2
    // after each merge (the new neighbours) and 1 per candidate popped (no more than were queued, under 3n), so
    // fewer than 6n in all. Rescanning the piece for the best pair after each merge would take O(n^2).
    const mergeOf = (tok as unknown as { mergeOf: Map<number, unknown> }).mergeOf;
    const get = mergeOf.get.bind(mergeOf);
    let lookups = 0;
    mergeOf.get = (key: number) => {
      lookups++;
      return get(key);
    };
    const ids = tok.encode(long);
    expect(lookups).toBeGreaterThan(long.length);
    expect(lookups).toBeLessThan(6 * long.length);
    expect(tok.decode(ids)).toBe(long);
  });

  test('save/load equality', () => {
    const tok = ByteLevelBPETokenizer.train(corpus, { vocabSize: 400 });
    const file = path.join(tempDir(), 'bpe.json');
    tok.save(file);
    tok.save(file); // overwriting is atomic too
    const back = ByteLevelBPETokenizer.load(file);
    expect(back.toJSON()).toEqual(tok.toJSON());
    const text = corpus.slice(100, 130).join(' ');
    expect(back.encode(text)).toEqual(tok.encode(text));
    for (let id = 0; id < tok.vocabSize; id++) expect(back.idToToken(id)).toBe(tok.idToToken(id));
  });

  test('training on 1 MB of text reaches 2,000 tokens', () => {
    // How long it takes is not asserted: a time limit fails on a busy machine.
    const big = makeCorpus(170_000, 11); // about 1 MB
    expect(big.reduce((n, s) => n + s.length + 1, 0)).toBeGreaterThan(1_000_000);
    const tok = ByteLevelBPETokenizer.train(big, { vocabSize: 2000 });
    expect(tok.vocabSize).toBe(2000);
    const text = big.slice(0, 100).join('\n');
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  test('bad input', () => {
    expectError(
      () => ByteLevelBPETokenizer.train(['x'], { vocabSize: 100 }),
      'RangeError',
      /vocabSize must be an integer in \[260/,
    );
    expectError(
      () => ByteLevelBPETokenizer.train(['x'], { vocabSize: 300, minFrequency: 0 }),
      'RangeError',
      /minFrequency/,
    );
    expectError(
      () => ByteLevelBPETokenizer.train('text' as unknown as string[], { vocabSize: 300 }),
      'TypeError',
      /train: corpus must be an iterable of strings/,
    );
    expectError(
      () => ByteLevelBPETokenizer.train([5 as unknown as string], { vocabSize: 300 }),
      'TypeError',
      /corpus items must be strings, got number/,
    );
    expectError(() => new ByteLevelBPETokenizer([['a', 'zz']]), 'RangeError', /merge 0 \("a", "zz"\) uses a token/);
    expectError(
      () =>
        new ByteLevelBPETokenizer([
          ['a', 'b'],
          ['a', 'b'],
        ]),
      'RangeError',
      /appears twice/,
    );
    expectError(() => new ByteLevelBPETokenizer().decode([260]), 'RangeError', /decode: id 260 at position 0/);
    expectError(
      () => ByteLevelBPETokenizer.fromJSON({ type: 'ByteLevelBPETokenizer', version: 2 }),
      'RangeError',
      /version 2/,
    );
    expectError(() => loadTokenizer('/nonexistent/tokenizer.json'), 'Error', /loadTokenizer: cannot read/);
  });
});

/** Reference BPE: recount every pair from scratch before each merge (same tie-break: lower ids first). */
function naiveMerges(corpus: string[], maxMerges: number, minFrequency: number): Array<[string, string]> {
  const tokens: string[] = [];
  for (let b = 0; b < 256; b++) tokens.push(new ByteLevelBPETokenizer().idToToken(4 + b) as string);
  let words = corpus.flatMap((text) => pretokenize(text)).map((piece) => Array.from(Buffer.from(piece, 'utf8')));
  const merges: Array<[string, string]> = [];
  while (merges.length < maxMerges) {
    const counts = new Map<string, number>();
    for (const w of words)
      for (let i = 0; i + 1 < w.length; i++)
        counts.set(`${w[i]},${w[i + 1]}`, (counts.get(`${w[i]},${w[i + 1]}`) ?? 0) + 1);
    let best: [number, number] | null = null;
    let bestCount = 0;
    for (const [key, n] of counts) {
      const [a, b] = key.split(',').map(Number);
      if (n > bestCount || (n === bestCount && best !== null && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = n;
      }
    }
    if (best === null || bestCount < minFrequency) break;
    const [a, b] = best;
    const merged = tokens[a] + tokens[b];
    let id = tokens.indexOf(merged);
    if (id < 0) id = tokens.push(merged) - 1;
    merges.push([tokens[a], tokens[b]]);
    words = words.map((w) => {
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(w[i]);
      }
      return out;
    });
  }
  return merges;
}

/** Sentences of pseudo-words drawn from a Zipf-like distribution, so frequent pairs exist as in real text. */
function makeCorpus(sentences: number, seed: number): string[] {
  const r = rng(seed);
  const syllables = ['ka', 'to', 'ri', 'en', 'sa', 'mo', 'lu', 'the', 'ing', 'er', 'qu', 'ä', 'zo', 'pi', 'ne', 'st'];
  const lexicon: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let w = '';
    const n = 1 + Math.floor(r() * 4);
    for (let j = 0; j < n; j++) w += syllables[Math.floor(r() * syllables.length)];
    lexicon.push(i % 7 === 0 ? w[0].toUpperCase() + w.slice(1) : w);
  }
  const out: string[] = [];
  for (let s = 0; s < sentences; s++) {
    const words: string[] = [];
    const n = 2 + Math.floor(r() * 3);
    for (let i = 0; i < n; i++) words.push(lexicon[Math.floor(lexicon.length * r() ** 3)]);
    out.push(words.join(' ') + (r() < 0.3 ? ',' : '.'));
  }
  return out;
}
