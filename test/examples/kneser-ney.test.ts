// The lm example's baseline: an interpolated Kneser-Ney character n-gram is a distribution over its
// vocabulary after any context, learns what repeats, and refuses bad options.
const { bitsPerChar, probability, trainKneserNey } = require('../../examples/lm/kneser-ney') as {
  trainKneserNey: (text: string, options?: object) => { n: number; vocabularySize: number };
  probability: (model: object, context: string, char: string) => number;
  bitsPerChar: (model: object, text: string) => number;
};

const text = 'the cat sat on the mat.\nthe dog sat on the rug.\n'.repeat(20) + 'a zebra quietly jumped.\n';

test('probabilities over the vocabulary sum to 1 after seen, unseen and short contexts', () => {
  for (const order of [1, 3, 5]) {
    const model = trainKneserNey(text, { order, vocabulary: 'XYZ' });
    const vocabulary = [...new Set(Array.from(text + 'XYZ'))];
    expect(model.vocabularySize).toBe(vocabulary.length);
    for (const context of ['', 't', 'the c', 'XYZXY', 'on th', 'zzzz'])
      expect(vocabulary.reduce((sum, c) => sum + probability(model, context, c), 0)).toBeCloseTo(1, 10);
    expect(probability(model, 'the', 'X')).toBeGreaterThan(0);
  }
});

test('a longer order predicts repeated text better, and repeated text costs little', () => {
  const held = 'the cat sat on the mat.\n';
  const bits = [1, 2, 5].map((order) => bitsPerChar(trainKneserNey(text, { order }), held));
  expect(bits[1]).toBeLessThan(bits[0]);
  expect(bits[2]).toBeLessThan(bits[1]);
  expect(bits[2]).toBeLessThan(0.5);
});

test('bad options are named', () => {
  expect(() => trainKneserNey(text, { order: 0 })).toThrow(/order must be a positive integer, got 0/);
  expect(() => trainKneserNey(text, { discount: 1 })).toThrow(/discount must be in \(0, 1\), got 1/);
});
