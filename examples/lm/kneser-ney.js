'use strict';
// An interpolated Kneser-Ney character n-gram model: the classical baseline the character-level GPT of this
// example must beat. Each order mixes its discounted counts with the next lower order, weighted by how many
// distinct characters follow the context; below the top order, counts are continuation counts (how many
// distinct characters precede an n-gram), and the lowest order mixes with the uniform distribution, so every
// character of the vocabulary gets a probability.

/** Counts of one order: how often (top order) or after how many distinct characters (lower orders) each
 * context + character occurs, and per context the total and the number of distinct characters that follow. */
function emptyOrder() {
  return { grams: new Map(), totals: new Map(), types: new Map() };
}

function addGram(order, context, char, count) {
  const gram = context + char;
  const before = order.grams.get(gram) ?? 0;
  order.grams.set(gram, before + count);
  order.totals.set(context, (order.totals.get(context) ?? 0) + count);
  if (before === 0) order.types.set(context, (order.types.get(context) ?? 0) + 1);
}

/**
 * Trains on `text` (a string; every character is a symbol, newlines included).
 * @param {string} text
 * @param {{ order?: number, discount?: number, vocabulary?: Iterable<string> }} options
 *   order: longest n-gram (default 5); discount: D in (0, 1) (default 0.75); vocabulary: the characters to
 *   spread the uniform floor over (default: those of text).
 */
function trainKneserNey(text, options = {}) {
  const n = options.order ?? 5;
  const discount = options.discount ?? 0.75;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`kneser-ney: order must be a positive integer, got ${n}`);
  if (!(discount > 0 && discount < 1)) throw new RangeError(`kneser-ney: discount must be in (0, 1), got ${discount}`);
  const chars = Array.from(text);
  const vocabulary = new Set(options.vocabulary ?? chars);
  for (const c of chars) vocabulary.add(c);
  // orders[k] holds k-grams (k = 1..n): raw counts at k = n, continuation counts below.
  const orders = Array.from({ length: n + 1 }, emptyOrder);
  for (let i = n - 1; i < chars.length; i++) addGram(orders[n], chars.slice(i - n + 1, i).join(''), chars[i], 1);
  // A k-gram's continuation count is the number of distinct (k+1)-grams that end with it.
  for (let k = n; k > 1; k--)
    for (const gram of orders[k].grams.keys()) {
      const suffix = Array.from(gram).slice(1);
      addGram(orders[k - 1], suffix.slice(0, -1).join(''), suffix[suffix.length - 1], 1);
    }
  return { n, discount, orders, vocabularySize: vocabulary.size };
}

/** P(char | context), context being the preceding characters (only the last n - 1 count). */
function probability(model, context, char) {
  const chars = Array.from(context);
  const history = chars.slice(chars.length - Math.min(chars.length, model.n - 1));
  let p = 1 / model.vocabularySize;
  for (let k = 1; k <= history.length + 1; k++) {
    const h = history.slice(history.length - (k - 1)).join('');
    const order = model.orders[k];
    const total = order.totals.get(h) ?? 0;
    if (total === 0) continue; // unseen context: the lower orders' estimate stands
    const count = order.grams.get(h + char) ?? 0;
    p = Math.max(count - model.discount, 0) / total + ((model.discount * order.types.get(h)) / total) * p;
  }
  return p;
}

/** Average -log2 P of each character of text given the characters before it (within text). */
function bitsPerChar(model, text) {
  const chars = Array.from(text);
  let bits = 0;
  for (let i = 0; i < chars.length; i++)
    bits -= Math.log2(probability(model, chars.slice(Math.max(0, i - model.n + 1), i).join(''), chars[i]));
  return bits / chars.length;
}

module.exports = { trainKneserNey, probability, bitsPerChar };
