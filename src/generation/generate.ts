// Decoding strategies for Seq2SeqTransformer and GPT: greedy, sampling (temperature, top-k, top-p; seeded),
// beam search, and a token stream. All run batched, without gradients, in evaluation mode, with each step's
// temporaries freed by tidy() and the session's tensors (memory, KV cache) freed at the end.
// Returned sequences hold the generated tokens only: no start token, no prompt, and no end token (see
// `finished` for which sequences produced it).
import { assertPositiveInt, fmtShape } from '../checks';
import { GPT } from '../models/gpt';
import { Seq2SeqTransformer } from '../models/seq2seq';
import { Module } from '../nn';
import { tensor, Tensor } from '../tensor';
import {
  argmax,
  checkSamplingOptions,
  drawFrom,
  filteredDistribution,
  logSoftmax,
  SamplingOptions,
  uniformStream,
} from './sampling';
import { DecoderSession, GenerativeModel, GPTSession, Seq2SeqSession, TokenInput } from './session';

export interface GenerationOptions {
  /** Most tokens to generate per sequence, the end token included (default: as many as the model's
   * positions allow: maxLen for a Seq2SeqTransformer, contextLength - prompt length + 1 for a GPT). */
  maxLength?: number;
  /** A sequence stops when it produces this token (none: every sequence runs to maxLength). */
  eosId?: number | null;
  /** Seq2SeqTransformer only (required there): the token the decoder starts from. */
  bosId?: number;
  /** Reuse past keys/values through a KV cache (default true); false recomputes every position each step. */
  useCache?: boolean;
}

export interface SampleOptions extends GenerationOptions, SamplingOptions {
  /** Seeds the draws, so the same call gives the same tokens (default: the global generator, see manualSeed). */
  seed?: number;
}

export interface BeamSearchOptions extends GenerationOptions {
  /** Hypotheses kept per input (default 4). */
  beamSize?: number;
  /** alpha of the GNMT length penalty: scores are logP / ((5 + length) / 6)^alpha, length counting the
   * generated tokens with the end token (default 1; 0 ranks by plain log-probability, larger favours longer). */
  lengthPenalty?: number;
  /** true: an input is done once beamSize hypotheses have ended. false (default): it is done only when no
   * running beam can still score above the worst kept hypothesis. */
  earlyStopping?: boolean;
  /** Hypotheses returned per input, best first (default 1, at most beamSize). */
  numReturnSequences?: number;
}

export interface StreamOptions extends SampleOptions {
  /** 'greedy' (default) or 'sample' (then temperature, topK, topP and seed apply). */
  strategy?: 'greedy' | 'sample';
}

export interface GenerationResult {
  /** Generated tokens per input. */
  sequences: number[][];
  /** Whether each sequence ended with eosId (false: it reached maxLength). */
  finished: boolean[];
}

export interface BeamHypothesis {
  tokens: number[];
  /** The length-penalised score the hypotheses are ranked by. */
  score: number;
  /** Sum of the tokens' log-probabilities (the end token's included). */
  logProb: number;
  finished: boolean;
}

export interface BeamSearchResult {
  /** The best hypothesis's tokens per input. */
  sequences: number[][];
  /** The best hypothesis's score per input. */
  scores: number[];
  /** numReturnSequences hypotheses per input, best first. */
  hypotheses: BeamHypothesis[][];
}

// ---- input and option checks ----

interface Prepared {
  model: GenerativeModel;
  /** What the decoder has seen before the first generated token, per input. */
  starts: number[][];
  maxLength: number;
  eosId: number | null;
  openSession(): DecoderSession;
}

function checkToken(op: string, name: string, value: unknown, vocabSize: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= vocabSize)
    throw new RangeError(`${op}: ${name} must be a token id in [0, ${vocabSize}), got ${String(value)}`);
  return value;
}

function tokenRows(op: string, input: TokenInput, vocabSize: number): number[][] {
  let rows: number[][];
  if (input instanceof Tensor) {
    if (input.dtype !== 'int32' || input.ndim !== 2 || input.shape[0] < 1 || input.shape[1] < 1)
      throw new TypeError(
        `${op}: input must be a non-empty int32 Tensor [B, T], got ${input.dtype} ${fmtShape(input.shape)}`,
      );
    rows = input.toArray() as number[][];
  } else {
    if (!Array.isArray(input) || input.length === 0 || !input.every((r) => Array.isArray(r)))
      throw new TypeError(`${op}: input must be an int32 Tensor [B, T] or a non-empty array of token id arrays`);
    rows = input.map((r) => [...r]);
  }
  rows.forEach((row, b) => {
    if (row.length === 0) throw new RangeError(`${op}: input ${b} is empty`);
    row.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new RangeError(`${op}: input[${b}][${t}] = ${id} is not a token id in [0, ${vocabSize})`);
    });
  });
  return rows;
}

function checkMaxLength(op: string, value: unknown, limit: number, why: string): number {
  const maxLength = value ?? limit;
  assertPositiveInt(op, 'maxLength', maxLength);
  if (maxLength > limit) throw new RangeError(`${op}: maxLength ${maxLength} exceeds ${limit}, ${why}`);
  return maxLength;
}

function prepare(op: string, model: GenerativeModel, input: TokenInput, options: GenerationOptions): Prepared {
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object`);
  const useCache = options.useCache ?? true;
  if (typeof useCache !== 'boolean') throw new TypeError(`${op}: useCache must be a boolean, got ${typeof useCache}`);
  if (model instanceof Seq2SeqTransformer) {
    const { srcVocabSize, tgtVocabSize, maxLen, padId } = model.config;
    if (options.bosId === undefined)
      throw new RangeError(`${op}: a Seq2SeqTransformer needs bosId, the token the decoder starts from`);
    const bosId = checkToken(op, 'bosId', options.bosId, tgtVocabSize);
    const eosId = options.eosId == null ? null : checkToken(op, 'eosId', options.eosId, tgtVocabSize);
    const sources = tokenRows(op, input, srcVocabSize);
    const S = Math.max(...sources.map((r) => r.length));
    if (S > maxLen) throw new RangeError(`${op}: a source of length ${S} exceeds the model's maxLen ${maxLen}`);
    const maxLength = checkMaxLength(op, options.maxLength, maxLen, `the model's maxLen (decoder positions)`);
    return {
      model,
      starts: sources.map(() => [bosId]),
      maxLength,
      eosId,
      openSession: () => {
        // Sources of different lengths are padded; their padding mask comes from padId.
        const source = sourceTensor(sources, S, padId);
        try {
          return new Seq2SeqSession(model, source, useCache);
        } finally {
          source.dispose();
        }
      },
    };
  }
  if (model instanceof GPT) {
    const { vocabSize, contextLength } = model.config;
    const eosId = options.eosId == null ? null : checkToken(op, 'eosId', options.eosId, vocabSize);
    if (options.bosId !== undefined)
      throw new RangeError(`${op}: bosId applies to a Seq2SeqTransformer; a GPT continues its prompt`);
    const prompts = tokenRows(op, input, vocabSize);
    const T = prompts[0].length;
    if (prompts.some((p) => p.length !== T))
      throw new RangeError(
        `${op}: GPT prompts of a batch must have equal lengths, got ${prompts.map((p) => p.length).join(', ')}`,
      );
    if (T > contextLength) throw new RangeError(`${op}: the prompt length ${T} exceeds contextLength ${contextLength}`);
    // The last generated token is never fed back, hence the + 1.
    const maxLength = checkMaxLength(
      op,
      options.maxLength,
      contextLength - T + 1,
      `contextLength ${contextLength} - prompt length ${T} + 1`,
    );
    return {
      model,
      starts: prompts,
      maxLength,
      eosId,
      openSession: () => new GPTSession(model, prompts.length, useCache),
    };
  }
  throw new TypeError(
    `${op}: model must be a Seq2SeqTransformer or a GPT, got ${model === null ? 'null' : ((model as object)?.constructor?.name ?? typeof model)}`,
  );
}

function sourceTensor(rows: number[][], S: number, padId: number): Tensor {
  const flat = new Int32Array(rows.length * S).fill(padId);
  rows.forEach((r, b) => flat.set(r, b * S));
  return tensor(flat, { shape: [rows.length, S], dtype: 'int32' });
}

// ---- evaluation mode ----

// Generation runs with dropout off. Overlapping generations on one model (e.g. two streams) share one switch:
// the first sets eval mode, the last restores the mode it found.
const evalHolds = new WeakMap<Module, { count: number; wasTraining: boolean }>();

function holdEvalMode(model: Module): () => void {
  const hold = evalHolds.get(model) ?? { count: 0, wasTraining: model.training };
  if (hold.count === 0) {
    hold.wasTraining = model.training;
    model.eval();
  }
  hold.count++;
  evalHolds.set(model, hold);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--hold.count === 0 && hold.wasTraining) model.train();
  };
}

// ---- greedy decoding and sampling ----

interface StepToken {
  /** Which input the token belongs to. */
  index: number;
  token: number;
}

/** Picks the next token from logits[offset .. offset + vocabSize). */
export type ChooseToken = (logits: Float32Array, offset: number, vocabSize: number) => number;

/** Decodes step by step, yielding each step's new tokens (end tokens excluded) and returning the result.
 * Finished rows leave the batch (and the cache) at once. */
function* decodeSteps(prepared: Prepared, choose: ChooseToken): Generator<StepToken[], GenerationResult, void> {
  const release = holdEvalMode(prepared.model);
  let session: DecoderSession | null = null;
  try {
    session = prepared.openSession();
    const V = session.vocabSize;
    const histories = prepared.starts.map((s) => [...s]);
    const sequences: number[][] = histories.map(() => []);
    const finished = histories.map(() => false);
    let active = histories.map((_, i) => i);
    for (let step = 0; step < prepared.maxLength && active.length > 0; step++) {
      const logits = session.nextLogits(active.map((i) => histories[i]));
      const emitted: StepToken[] = [];
      const keptRows: number[] = [];
      active.forEach((index, row) => {
        const token = choose(logits, row * V, V);
        if (token === prepared.eosId) {
          finished[index] = true;
          return;
        }
        sequences[index].push(token);
        histories[index].push(token);
        emitted.push({ index, token });
        keptRows.push(row);
      });
      if (keptRows.length < active.length && keptRows.length > 0) session.selectRows(keptRows);
      active = keptRows.map((row) => active[row]);
      yield emitted;
    }
    return { sequences, finished };
  } finally {
    session?.dispose();
    release();
  }
}

function runToEnd(steps: Generator<StepToken[], GenerationResult, void>): GenerationResult {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

export const greedyChoice: ChooseToken = (logits, offset, V) => argmax(logits, offset, V);

export function samplingChoice(op: string, options: SampleOptions): ChooseToken {
  const filters = checkSamplingOptions(op, options);
  const uniform = uniformStream(op, options.seed);
  return (logits, offset, V) => drawFrom(filteredDistribution(logits, filters, offset, V), uniform());
}

/** The most likely token at every step. */
export function greedy(model: GenerativeModel, input: TokenInput, options: GenerationOptions = {}): GenerationResult {
  return runToEnd(decodeSteps(prepare('greedy', model, input, options), greedyChoice));
}

/** Tokens drawn from the (temperature, top-k, top-p filtered) distribution; the same seed gives the same
 * tokens for the same batch. */
export function sample(model: GenerativeModel, input: TokenInput, options: SampleOptions = {}): GenerationResult {
  const prepared = prepare('sample', model, input, options);
  return runToEnd(decodeSteps(prepared, samplingChoice('sample', options)));
}

/** The tokens of one input as they are decoded, greedy or sampled: `for await (const token of
 * generateStream(model, [prompt]))`. The event loop runs between tokens, so a server can send each one as it
 * comes; leaving the loop early frees the session at once. */
export async function* generateStream(
  model: GenerativeModel,
  input: TokenInput,
  options: StreamOptions = {},
): AsyncGenerator<number, GenerationResult, void> {
  const op = 'generateStream';
  const strategy = options.strategy ?? 'greedy';
  if (strategy !== 'greedy' && strategy !== 'sample')
    throw new RangeError(`${op}: strategy must be 'greedy' or 'sample', got '${String(strategy)}'`);
  const prepared = prepare(op, model, input, options);
  if (prepared.starts.length !== 1)
    throw new RangeError(`${op}: streams one input at a time, got a batch of ${prepared.starts.length}`);
  const steps = decodeSteps(prepared, strategy === 'sample' ? samplingChoice(op, options) : greedyChoice);
  try {
    for (;;) {
      const next = steps.next();
      if (next.done) return next.value;
      for (const { token } of next.value) yield token;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    steps.return(undefined as never);
  }
}

// ---- beam search ----

interface Beam {
  input: number;
  tokens: number[];
  logProb: number;
}

interface Candidate {
  row: number;
  token: number;
  logProb: number;
}

/** The n best (value, index) of values, best first (ties: lower index first). */
function topIndices(values: Float64Array, n: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === n && !(v > values[best[n - 1]])) continue;
    let at = best.length;
    while (at > 0 && v > values[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > n) best.pop();
  }
  return best;
}

/** Keeps beamSize hypotheses per input through the steps, extending each by its best tokens; the search
 * is batched over inputs x beams, and the KV cache follows the beams with reorder(). */
export function beamSearch(
  model: GenerativeModel,
  input: TokenInput,
  options: BeamSearchOptions = {},
): BeamSearchResult {
  const op = 'beamSearch';
  const prepared = prepare(op, model, input, options);
  const beamSize = options.beamSize ?? 4;
  assertPositiveInt(op, 'beamSize', beamSize);
  const alpha = options.lengthPenalty ?? 1;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw new RangeError(`${op}: lengthPenalty must be a finite number, got ${String(alpha)}`);
  const earlyStopping = options.earlyStopping ?? false;
  if (typeof earlyStopping !== 'boolean')
    throw new TypeError(`${op}: earlyStopping must be a boolean, got ${typeof earlyStopping}`);
  const numReturn = options.numReturnSequences ?? 1;
  if (!Number.isInteger(numReturn) || numReturn < 1 || numReturn > beamSize)
    throw new RangeError(
      `${op}: numReturnSequences must be an integer in [1, beamSize = ${beamSize}], got ${String(numReturn)}`,
    );
  const { maxLength, eosId, starts } = prepared;
  const penalty = (length: number) => ((5 + length) / 6) ** alpha;
  // The best score a running beam with this log-probability and length could still reach: its
  // log-probability only falls, and the penalty is monotone in the length, so one of the ends is the best.
  const bound = (logProb: number, length: number) =>
    length >= maxLength
      ? logProb / penalty(length)
      : Math.max(logProb / penalty(length + 1), logProb / penalty(maxLength));

  const hypotheses: BeamHypothesis[][] = starts.map(() => []);
  const addHypothesis = (input: number, h: BeamHypothesis) => {
    const list = hypotheses[input];
    let at = list.length;
    while (at > 0 && h.score > list[at - 1].score) at--;
    list.splice(at, 0, h);
    if (list.length > beamSize) list.pop();
  };

  const release = holdEvalMode(model);
  let session: DecoderSession | null = null;
  try {
    session = prepared.openSession();
    const V = session.vocabSize;
    let beams: Beam[] = starts.map((_, input) => ({ input, tokens: [], logProb: 0 }));
    for (let length = 1; length <= maxLength && beams.length > 0; length++) {
      const logits = session.nextLogits(beams.map((b) => [...starts[b.input], ...b.tokens]));
      const next: Beam[] = [];
      const parents: number[] = [];
      for (let first = 0; first < beams.length;) {
        const input = beams[first].input;
        let end = first;
        while (end < beams.length && beams[end].input === input) end++;
        // The best 2 * beamSize continuations of this input's beams: enough to keep beamSize running beams
        // even if up to beamSize of them end.
        const candidates: Candidate[] = [];
        for (let row = first; row < end; row++) {
          const logProbs = logSoftmax(logits, row * V, V);
          for (const token of topIndices(logProbs, 2 * beamSize))
            candidates.push({ row, token, logProb: beams[row].logProb + logProbs[token] });
        }
        candidates.sort((a, b) => b.logProb - a.logProb || a.row - b.row || a.token - b.token);
        const kept: Beam[] = [];
        const keptParents: number[] = [];
        for (let rank = 0; rank < candidates.length && rank < 2 * beamSize && kept.length < beamSize; rank++) {
          const c = candidates[rank];
          const parent = beams[c.row];
          if (c.token === eosId) {
            if (rank < beamSize)
              addHypothesis(input, {
                tokens: parent.tokens,
                score: c.logProb / penalty(length),
                logProb: c.logProb,
                finished: true,
              });
            continue;
          }
          kept.push({ input, tokens: [...parent.tokens, c.token], logProb: c.logProb });
          keptParents.push(c.row);
        }
        let done = kept.length === 0;
        if (!done && length === maxLength) {
          for (const b of kept)
            addHypothesis(input, {
              tokens: b.tokens,
              score: b.logProb / penalty(length),
              logProb: b.logProb,
              finished: false,
            });
          done = true;
        } else if (!done && hypotheses[input].length >= beamSize) {
          const worst = hypotheses[input][beamSize - 1].score;
          done = earlyStopping || Math.max(...kept.map((b) => bound(b.logProb, length))) <= worst;
        }
        if (!done) {
          next.push(...kept);
          parents.push(...keptParents);
        }
        first = end;
      }
      if (next.length > 0) session.selectRows(parents);
      beams = next;
    }
  } finally {
    session?.dispose();
    release();
  }
  const returned = hypotheses.map((list) => list.slice(0, numReturn));
  return {
    sequences: returned.map((list) => list[0].tokens),
    scores: returned.map((list) => list[0].score),
    hypotheses: returned,
  };
}
