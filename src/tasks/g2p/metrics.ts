// G2P metrics: word error rate and phoneme error rate against one or more reference pronunciations, with and
// without stress digits.
import { editDistance } from '../../util/edit_distance';
import { stripStress } from './data';

// Part of the g2p namespace's API since the metrics were written; the implementation is shared with the CLI.
export { editDistance };

export interface G2PScoreOptions {
  /** Compare without stress digits (removed from predictions and references alike). */
  ignoreStress?: boolean;
}

export interface G2PScore {
  /** Share of words whose prediction equals none of their references. */
  wer: number;
  /** Sum over words of the edit distance to the closest reference, over the sum of those references' lengths. */
  per: number;
  words: number;
  wordErrors: number;
  phonemeErrors: number;
  referencePhonemes: number;
}

/** Scores predictions (one phoneme list per word) against references (one or more phoneme lists per word). The
 * closest reference is the one at the smallest edit distance; on a tie the first of them in the given order. */
export function scoreG2P(
  predictions: ReadonlyArray<readonly string[]>,
  references: ReadonlyArray<ReadonlyArray<readonly string[]>>,
  options: G2PScoreOptions = {},
): G2PScore {
  if (!Array.isArray(predictions) || !Array.isArray(references))
    throw new TypeError('scoreG2P: predictions and references must be arrays');
  if (predictions.length !== references.length)
    throw new RangeError(`scoreG2P: ${predictions.length} predictions but ${references.length} reference lists`);
  if (predictions.length === 0) throw new RangeError('scoreG2P: no words to score');
  const normalize = options.ignoreStress ? stripStress : (p: readonly string[]) => p;
  let wordErrors = 0;
  let phonemeErrors = 0;
  let referencePhonemes = 0;
  predictions.forEach((prediction, w) => {
    const refs = references[w];
    if (!Array.isArray(refs) || refs.length === 0)
      throw new RangeError(`scoreG2P: word ${w} has no reference pronunciation`);
    if (!Array.isArray(prediction)) throw new TypeError(`scoreG2P: prediction ${w} must be an array of phonemes`);
    const predicted = normalize(prediction);
    let best = Infinity;
    let bestLength = 0;
    for (const ref of refs) {
      if (!Array.isArray(ref) || ref.length === 0)
        throw new RangeError(`scoreG2P: word ${w} has an empty or invalid reference`);
      const distance = editDistance(predicted, normalize(ref));
      if (distance < best) {
        best = distance;
        bestLength = ref.length;
      }
    }
    if (best > 0) wordErrors++;
    phonemeErrors += best;
    referencePhonemes += bestLength;
  });
  return {
    wer: wordErrors / predictions.length,
    per: phonemeErrors / referencePhonemes,
    words: predictions.length,
    wordErrors,
    phonemeErrors,
    referencePhonemes,
  };
}

export interface G2PMetrics {
  wer: number;
  per: number;
  werNoStress: number;
  perNoStress: number;
  words: number;
}

/** WER and PER with stress digits and without them. */
export function g2pMetrics(
  predictions: ReadonlyArray<readonly string[]>,
  references: ReadonlyArray<ReadonlyArray<readonly string[]>>,
): G2PMetrics {
  const stressed = scoreG2P(predictions, references);
  const unstressed = scoreG2P(predictions, references, { ignoreStress: true });
  return {
    wer: stressed.wer,
    per: stressed.per,
    werNoStress: unstressed.wer,
    perNoStress: unstressed.per,
    words: stressed.words,
  };
}
