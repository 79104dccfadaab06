// Grapheme-to-phoneme with a Seq2SeqTransformer: the default model and batching, beam-search prediction, and
// WER/PER evaluation. The CLI (`transformer-native g2p train|eval|predict`) runs them through the Trainer.
import { Seq2SeqDataLoader } from '../../data/dataloader';
import { beamSearch } from '../../generation';
import { Seq2SeqTransformer } from '../../models';
import { encodeG2PPairs, G2PEntry, G2PTokenizers } from './data';
import { g2pMetrics, G2PMetrics } from './metrics';

/** The default G2P model: the paper's base Transformer scaled to a 2-core CPU budget (3+3 layers of 256). */
export const G2P_MODEL_DEFAULTS = {
  dModel: 256,
  nhead: 4,
  numEncoderLayers: 3,
  numDecoderLayers: 3,
  dimFeedforward: 1024,
  // No dropout: 45 minutes on 2 cores is about 8 epochs, where the model still underfits. At 300 steps dropout
  // 0.1 cost 5 dev WER points, and its masks make every step slower.
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
}

/** Beam-search pronunciations (phoneme tokens with stress digits) for words, in batches. */
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
    });
    for (const seq of result.sequences)
      out.push(seq.map((id) => phonemes.idToToken(id) ?? phonemes.idToToken(phonemes.unkId) ?? '<unk>'));
  }
  return out;
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
