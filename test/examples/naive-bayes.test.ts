// The classify example's baseline: multinomial naive Bayes with add-one smoothing gives the hand-computed scores,
// picks the likelier label, and refuses bad input.
const { logScores, predict, trainNaiveBayes, words } = require('../../examples/classify/naive-bayes') as {
  words: (text: string) => string[];
  trainNaiveBayes: (rows: { text: unknown; label: string }[]) => { vocabulary: Set<string> };
  logScores: (model: object, text: string) => { label: string; score: number }[];
  predict: (model: object, text: string) => string;
};

const rows = [
  { text: 'Buy cheap pills NOW', label: 'spam' },
  { text: 'cheap cheap offer', label: 'spam' },
  { text: "Meeting notes: don't forget", label: 'ham' },
];

test('words are lower-cased runs of letters and digits with inner apostrophes', () => {
  expect(words("Don't BUY 2 pills, now!")).toEqual(["don't", 'buy', '2', 'pills', 'now']);
});

test('scores are log prior + add-one smoothed log likelihoods; unseen words are skipped', () => {
  const model = trainNaiveBayes(rows);
  // Vocabulary: buy cheap pills now offer meeting notes don't forget = 9 words; spam has 7 tokens, ham 4.
  expect(model.vocabulary.size).toBe(9);
  const scores = Object.fromEntries(logScores(model, 'cheap meeting zebra').map((s) => [s.label, s.score]));
  expect(scores.spam).toBeCloseTo(Math.log(2 / 3) + Math.log(4 / 16) + Math.log(1 / 16), 12);
  expect(scores.ham).toBeCloseTo(Math.log(1 / 3) + Math.log(1 / 13) + Math.log(2 / 13), 12);
  expect(predict(model, 'cheap pills')).toBe('spam');
  expect(predict(model, 'notes for the meeting')).toBe('ham');
});

test('bad input is an error naming it', () => {
  expect(() => trainNaiveBayes([])).toThrow(/no training rows/);
  expect(() => trainNaiveBayes([{ text: 3, label: 'x' }])).toThrow(/text must be a string, got number/);
});
