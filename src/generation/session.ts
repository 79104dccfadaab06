// A decoding session hides the model behind one question - "what are the next-token logits of these token
// histories?" - so that greedy decoding, sampling and beam search are written once for every model. It owns
// the tensors that live across steps (the encoder's memory, the KV cache), keeps the batch rows in step with
// the searches (selectRows drops finished rows and duplicates beams), and frees everything in dispose().
import { noGrad } from '../autograd';
import * as F from '../functional';
import { GPT } from '../models/gpt';
import { Seq2SeqTransformer } from '../models/seq2seq';
import { KVCache } from '../nn';
import { keep, tensor, Tensor, tidy } from '../tensor';
import { GPTStep } from './gpt_step';

export type GenerativeModel = Seq2SeqTransformer | GPT;

/** Token ids: a Tensor int32 [B, T], or arrays of ids (a Seq2SeqTransformer's sources may differ in length). */
export type TokenInput = Tensor | number[][];

export interface DecoderSession {
  readonly vocabSize: number;
  /** Logits of the next token, rows * vocabSize values, for histories of equal length (one per row). */
  nextLogits(histories: number[][]): Float32Array;
  /** Keeps row indices[i] as row i (repeats allowed): the rows of the next call to nextLogits. */
  selectRows(indices: number[]): void;
  dispose(): void;
}

function idsTensor(rows: number[][]): Tensor {
  const T = rows[0].length;
  const flat = new Int32Array(rows.length * T);
  rows.forEach((r, i) => flat.set(r, i * T));
  return tensor(flat, { shape: [rows.length, T], dtype: 'int32' });
}

/** Row `indices[i]` of t [N, ...] as row i (a gather through the embedding op: each row is one "embedding"). */
function gatherRows(t: Tensor, indices: number[]): Tensor {
  const [N, ...rest] = t.shape;
  const width = t.size / N;
  const index = tensor(Int32Array.from(indices), { dtype: 'int32' });
  return F.embedding(index, t.reshape(N, width)).reshape(indices.length, ...rest);
}

function lastPosition(logits: Tensor): Float32Array {
  const T = logits.shape[1];
  return logits.slice(1, T - 1, T).dataSync() as Float32Array;
}

function reorderCache(cache: KVCache | null, indices: number[]): void {
  if (cache === null) return;
  const index = tensor(Int32Array.from(indices), { dtype: 'int32' });
  cache.reorder(index);
  index.dispose();
}

function isIdentity(indices: number[], rows: number): boolean {
  return indices.length === rows && indices.every((v, i) => v === i);
}

/** The encoder runs once on the sources; each step decodes the new target positions (or, without a cache,
 * the whole target so far). */
export class Seq2SeqSession implements DecoderSession {
  readonly vocabSize: number;
  private memory: Tensor;
  private sourcePadding: Int32Array[];
  private readonly cache: KVCache | null;
  private rows: number;

  constructor(
    private readonly model: Seq2SeqTransformer,
    source: Tensor,
    useCache: boolean,
  ) {
    this.vocabSize = model.config.tgtVocabSize;
    const [B, S] = source.shape;
    const { memory, flags } = noGrad(() =>
      tidy(() => {
        const padding = model.paddingMask(source);
        return {
          memory: model.encode(source, { srcKeyPaddingMask: padding }),
          flags: padding.dataSync() as Int32Array,
        };
      }),
    );
    this.memory = keep(memory);
    this.sourcePadding = Array.from({ length: B }, (_, b) => flags.slice(b * S, (b + 1) * S));
    this.cache = useCache ? new KVCache() : null;
    this.rows = B;
  }

  nextLogits(histories: number[][]): Float32Array {
    const cache = this.cache;
    return noGrad(() =>
      tidy(() => {
        const fed = cache?.length ?? 0;
        const ids = idsTensor(fed === 0 ? histories : histories.map((h) => h.slice(fed)));
        const S = this.memory.shape[1];
        const flat = new Int32Array(this.rows * S);
        this.sourcePadding.forEach((p, i) => flat.set(p, i * S));
        const memoryKeyPaddingMask = tensor(flat, { shape: [this.rows, S], dtype: 'bool' });
        return lastPosition(
          this.model.decode(ids, this.memory, { memoryKeyPaddingMask, cache, tgtKeyPaddingMask: null }),
        );
      }),
    );
  }

  selectRows(indices: number[]): void {
    if (isIdentity(indices, this.rows)) return;
    const memory = this.memory;
    this.memory = keep(noGrad(() => tidy(() => gatherRows(memory, indices))));
    memory.dispose();
    this.sourcePadding = indices.map((i) => this.sourcePadding[i]);
    reorderCache(this.cache, indices);
    this.rows = indices.length;
  }

  dispose(): void {
    this.memory.dispose();
    this.cache?.dispose();
  }
}

/** Each step feeds the new positions (the whole prompt on the first step), or, without a cache, everything.
 * Steps of one new position per row over the cache run on GPTStep when it supports the model. */
export class GPTSession implements DecoderSession {
  readonly vocabSize: number;
  private readonly cache: KVCache | null;
  private readonly step: GPTStep | null;
  private rows: number;

  constructor(
    private readonly model: GPT,
    rows: number,
    useCache: boolean,
  ) {
    this.vocabSize = model.config.vocabSize;
    this.cache = useCache ? new KVCache() : null;
    this.step = this.cache === null ? null : new GPTStep(model, this.cache);
    this.rows = rows;
  }

  nextLogits(histories: number[][]): Float32Array {
    const cache = this.cache;
    const fed = cache?.length ?? 0;
    if (
      this.step !== null &&
      fed > 0 &&
      fed < this.model.config.contextLength &&
      histories.every((h) => h.length === fed + 1) &&
      this.step.supported
    )
      return this.step.step(histories.map((h) => h[fed]));
    return noGrad(() =>
      tidy(() => {
        const ids = idsTensor(fed === 0 ? histories : histories.map((h) => h.slice(fed)));
        return lastPosition(this.model.forward(ids, { cache }));
      }),
    );
  }

  selectRows(indices: number[]): void {
    if (isIdentity(indices, this.rows)) return;
    reorderCache(this.cache, indices);
    this.rows = indices.length;
  }

  dispose(): void {
    this.step?.dispose();
    this.cache?.dispose();
  }
}
