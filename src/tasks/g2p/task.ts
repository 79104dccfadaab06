// Grapheme-to-phoneme with a Seq2SeqTransformer: the default model and batching, beam-search prediction, and
// WER/PER evaluation. The CLI (`transformer-native g2p train|eval|predict`) runs them through the Trainer.
import { Seq2SeqDataLoader } from '../../data/dataloader';
import { beamSearch } from '../../generation';
import { Seq2SeqTransformer } from '../../models';
import type { WordTokenizer } from '../../data/tokenizers/word';
import { encodeG2PPairs, G2PEntry, G2PTokenizers, stripStress } from './data';
import { g2pMetrics, G2PMetrics } from './metrics';

/** The default G2P model: the paper's base Transformer scaled to a 2-core CPU budget (3+3 layers of 192). In 45
 * minutes the model is far from converged, so a narrower one that takes twice the steps learns more: at equal
 * time, width 192 (ff 768) scored 28.1% dev WER without stress against 32.6% for width 256 (ff 1024). */
export const G2P_MODEL_DEFAULTS = {
  dModel: 192,
  nhead: 4,
  numEncoderLayers: 3,
  numDecoderLayers: 3,
  dimFeedforward: 768,
  // No dropout: the model still underfits after 45 minutes. At 300 steps dropout 0.1 cost 5 dev WER points, and its
  // masks make every step slower.
  dropout: 0,
  maxLen: 64,
};

export type G2PModelOptions = typeof G2P_MODEL_DEFAULTS;

export function buildG2PModel(
  tokenizers: G2PTokenizers,
  options: Partial<G2PModelOptions> & { seed?: number } = {},
): Seq2SeqTransformer {
  const { graphemes, phonemes } = tokenizers;
  return new Seq2SeqTransformer({
    ...G2P_MODEL_DEFAULTS,
    ...options,
    srcVocabSize: graphemes.vocabSize,
    tgtVocabSize: phonemes.vocabSize,
    padId: phonemes.padId,
  });
}

/** Shuffled, length-bucketed batches of (word, pronunciation) pairs holding about maxTokens padded tokens. */
export function g2pLoader(
  entries: readonly G2PEntry[],
  tokenizers: G2PTokenizers,
  options: { maxTokens: number; seed: number; shuffle?: boolean },
): Seq2SeqDataLoader {
  const { phonemes } = tokenizers;
  return new Seq2SeqDataLoader(encodeG2PPairs(entries, tokenizers), {
    maxTokens: options.maxTokens,
    shuffle: options.shuffle ?? true,
    bucketByLength: true,
    seed: options.seed,
    padId: phonemes.padId,
    bosId: phonemes.bosId,
    eosId: phonemes.eosId,
  });
}

export interface G2PPredictOptions {
  beamSize?: number;
  /** Words decoded together. */
  batchSize?: number;
  lengthPenalty?: number;
  /** Choose the phones by their probability summed over stress patterns among the beam's hypotheses, then their
   * most likely stress pattern (default true). false: the top hypothesis as it is. */
  mergeStressVariants?: boolean;
}

/** Beam-search pronunciations (phoneme tokens with stress digits) for words, in batches. By default the beam's
 * hypotheses are merged by their phones: stress variants of one pronunciation split its probability between them,
 * so the top hypothesis alone can carry the wrong phones (on dev this lowered the WER without stress by about half
 * a point). */
export function predictG2P(
  model: Seq2SeqTransformer,
  tokenizers: G2PTokenizers,
  words: readonly string[],
  options: G2PPredictOptions = {},
): string[][] {
  const beamSize = options.beamSize ?? 5;
  const batchSize = options.batchSize ?? 256;
  const { graphemes, phonemes } = tokenizers;
  const out: string[][] = [];
  for (let i = 0; i < words.length; i += batchSize) {
    const batch = words.slice(i, i + batchSize).map((w) => {
      const ids = graphemes.encode(w.toLowerCase());
      return (ids.length > 0 ? ids : [graphemes.unkId]).slice(0, model.config.maxLen);
    });
    const longest = Math.max(...batch.map((b) => b.length));
    const result = beamSearch(model, batch, {
      beamSize,
      bosId: phonemes.bosId,
      eosId: phonemes.eosId,
      // A pronunciation is rarely longer than its spelling plus a few phonemes.
      maxLength: Math.min(longest + 8, model.config.maxLen),
      lengthPenalty: options.lengthPenalty ?? 0.6,
      numReturnSequences: beamSize,
    });
    const merge = options.mergeStressVariants ?? true;
    for (const hypotheses of result.hypotheses) {
      const ranked = hypotheses.map((h) => ({ phonemes: decodePhonemes(h.tokens, phonemes), logProb: h.logProb }));
      out.push(merge ? mostProbablePhones(ranked) : ranked[0].phonemes);
    }
  }
  return out;
}

function decodePhonemes(ids: readonly number[], phonemes: WordTokenizer): string[] {
  return ids.map((id) => phonemes.idToToken(id) ?? phonemes.idToToken(phonemes.unkId) ?? '<unk>');
}

export interface RankedPronunciation {
  phonemes: string[];
  /** Log-probability of the whole sequence. */
  logProb: number;
}

/** Of hypotheses ranked best first, the best-ranked one among those whose phones (stress digits removed) have the
 * largest summed probability; on a tie, the group ranked first. */
export function mostProbablePhones(hypotheses: readonly RankedPronunciation[]): string[] {
  if (hypotheses.length === 0) throw new RangeError('mostProbablePhones: no hypotheses');
  const groups = new Map<string, { mass: number; best: string[] }>();
  for (const { phonemes, logProb } of hypotheses) {
    const key = stripStress(phonemes).join(' ');
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { mass: Math.exp(logProb), best: phonemes });
    else group.mass += Math.exp(logProb);
  }
  let chosen: { mass: number; best: string[] } | undefined;
  for (const group of groups.values()) if (chosen === undefined || group.mass > chosen.mass) chosen = group;
  return (chosen as { best: string[] }).best;
}

/** WER and PER, with and without stress, of the model's predictions for entries. */
export function evaluateG2P(
  model: Seq2SeqTransformer,
  tokenizers: G2PTokenizers,
  entries: readonly G2PEntry[],
  options: G2PPredictOptions = {},
): G2PMetrics {
  const predictions = predictG2P(
    model,
    tokenizers,
    entries.map((e) => e.word),
    options,
  );
  return g2pMetrics(
    predictions,
    entries.map((e) => e.pronunciations),
  );
}
