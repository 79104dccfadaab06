// Turning next-token logits into a choice: argmax, log-probabilities, the top-k / top-p (nucleus) filtered
// sampling distribution, and a seeded generator so that sampled outputs are reproducible.
import { assertPositiveInt } from '../checks';
import { seedStream } from '../nn/module';

export interface SamplingOptions {
  /** Divides the logits before the softmax: below 1 sharpens, above 1 flattens (default 1). */
  temperature?: number;
  /** Keeps only the k most likely tokens (default 0: all). */
  topK?: number;
  /** Keeps the smallest set of most likely tokens whose probability reaches p (default 1: all). */
  topP?: number;
}

export function checkSamplingOptions(op: string, options: SamplingOptions): Required<SamplingOptions> {
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  if (typeof temperature !== 'number' || !(temperature > 0) || !Number.isFinite(temperature))
    throw new RangeError(
      `${op}: temperature must be a positive number, got ${String(temperature)} (use greedy() for deterministic decoding)`,
    );
  assertPositiveInt(op, 'topK', topK, { allowZero: true });
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1))
    throw new RangeError(`${op}: topP must be in (0, 1], got ${String(topP)}`);
  return { temperature, topK, topP };
}

/** Index of the largest of values[offset .. offset + n) (the first one on ties). */
export function argmax(values: ArrayLike<number>, offset = 0, n = values.length - offset): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

/** log softmax of values[offset .. offset + n), in double precision. */
export function logSoftmax(values: ArrayLike<number>, offset = 0, n = values.length - offset): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, values[offset + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(values[offset + i] - max);
  const logZ = max + Math.log(sum);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = values[offset + i] - logZ;
  return out;
}

/** The distribution sample() draws from, for logits[offset .. offset + n): softmax(logits / temperature),
 * restricted to the topK most likely tokens, then to the smallest most-likely set whose mass reaches topP,
 * and renormalised. Filtered tokens get probability 0; the most likely token is always kept. */
export function samplingDistribution(
  logits: ArrayLike<number>,
  options: SamplingOptions = {},
  offset = 0,
  n = logits.length - offset,
): Float64Array {
  return filteredDistribution(logits, checkSamplingOptions('samplingDistribution', options), offset, n);
}

/** samplingDistribution with options that checkSamplingOptions has already checked and filled in (sample()
 * checks them once, not at every token). */
export function filteredDistribution(
  logits: ArrayLike<number>,
  filters: Required<SamplingOptions>,
  offset: number,
  n: number,
): Float64Array {
  const { temperature, topK, topP } = filters;
  const order = Array.from({ length: n }, (_, i) => i);
  // Most likely first; equal logits keep index order, so topK = 1 picks what argmax picks.
  order.sort((a, b) => logits[offset + b] - logits[offset + a] || a - b);
  const kept = topK > 0 ? Math.min(topK, n) : n;
  const max = logits[offset + order[0]] / temperature;
  const probs = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < kept; r++) {
    const p = Math.exp(logits[offset + order[r]] / temperature - max);
    probs[order[r]] = p;
    total += p;
  }
  let cutoff = kept;
  if (topP < 1) {
    let mass = 0;
    for (let r = 0; r < kept; r++) {
      mass += probs[order[r]] / total;
      // A small tolerance so that p exactly equal to a cumulative mass is not lost to rounding.
      if (mass >= topP - 1e-12) {
        cutoff = r + 1;
        break;
      }
    }
  }
  let keptMass = 0;
  for (let r = 0; r < cutoff; r++) keptMass += probs[order[r]];
  for (let r = 0; r < n; r++) probs[order[r]] = r < cutoff ? probs[order[r]] / keptMass : 0;
  return probs;
}

/** A token drawn from probs with a uniform number u in [0, 1). */
export function drawFrom(probs: Float64Array, u: number): number {
  let acc = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    acc += probs[i];
    last = i;
    if (u < acc) return i;
  }
  return last; // u fell in the rounding gap below 1
}

/** Uniform numbers in [0, 1) from a seed (the global generator's next seed when omitted). */
export function uniformStream(op: string, seed?: number): () => number {
  const next = seedStream(op, seed ?? seedStream(op)());
  return () => next() / 2 ** 53;
}
