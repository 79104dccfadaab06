// Text generation for Seq2SeqTransformer and GPT: greedy decoding, sampling, beam search and token streams.
export { beamSearch, generateStream, greedy, sample } from './generate';
export type {
  BeamHypothesis,
  BeamSearchOptions,
  BeamSearchResult,
  GenerationOptions,
  GenerationResult,
  SampleOptions,
  StreamOptions,
} from './generate';
export { argmax, logSoftmax, samplingDistribution } from './sampling';
export type { SamplingOptions } from './sampling';
export { GPTSession, Seq2SeqSession } from './session';
export { ContinuousBatcher } from './batch';
export type { BatchSequenceOptions, BatchToken } from './batch';
export type { DecoderSession, GenerativeModel, TokenInput } from './session';
