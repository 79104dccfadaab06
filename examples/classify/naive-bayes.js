'use strict';
// Multinomial naive Bayes over lower-cased word counts with add-one (Laplace) smoothing: the classical baseline
// the classify example's Transformer must beat.

/** Lower-cased words as the CLI's word tokenizer splits them (letters, digits, marks, inner apostrophes). */
function words(text) {
  return text.toLowerCase().match(/[\p{L}\p{N}\p{M}_]+(?:['\u2019][\p{L}\p{N}\p{M}_]+)*/gu) ?? [];
}

/**
 * Trains on rows of { text, label }: per label, the log prior and log P(word | label) = log((count + 1) /
 * (words of the label + vocabulary size)) for every word of the training vocabulary.
 * @param {{ text: string, label: string | number }[]} rows
 */
function trainNaiveBayes(rows) {
  if (!Array.isArray(rows) || rows.length === 0) throw new RangeError('naive-bayes: no training rows');
  const vocabulary = new Set();
  const byLabel = new Map();
  for (const { text, label } of rows) {
    if (typeof text !== 'string') throw new TypeError(`naive-bayes: text must be a string, got ${typeof text}`);
    const key = String(label);
    if (!byLabel.has(key)) byLabel.set(key, { documents: 0, tokens: 0, counts: new Map() });
    const stats = byLabel.get(key);
    stats.documents++;
    for (const word of words(text)) {
      vocabulary.add(word);
      stats.counts.set(word, (stats.counts.get(word) ?? 0) + 1);
      stats.tokens++;
    }
  }
  const classes = [...byLabel].map(([label, stats]) => {
    const denominator = Math.log(stats.tokens + vocabulary.size);
    const logLikelihood = new Map();
    for (const word of vocabulary) logLikelihood.set(word, Math.log((stats.counts.get(word) ?? 0) + 1) - denominator);
    return { label, logPrior: Math.log(stats.documents / rows.length), logLikelihood };
  });
  return { classes, vocabulary };
}

/** Per label, the log joint probability of the text (up to a constant); words never seen in training are skipped,
 * as in the usual formulation. */
function logScores(model, text) {
  const known = words(text).filter((word) => model.vocabulary.has(word));
  return model.classes.map((c) => ({
    label: c.label,
    score: known.reduce((sum, word) => sum + c.logLikelihood.get(word), c.logPrior),
  }));
}

/** The most probable label of a text. */
function predict(model, text) {
  return logScores(model, text).reduce((best, s) => (s.score > best.score ? s : best)).label;
}

module.exports = { words, trainNaiveBayes, logScores, predict };
