// Grapheme-to-phoneme on CMUdict: the fixed split, tokenizers and the WER/PER metrics.
export * from './data';
export * from './metrics';
export * from './task';
