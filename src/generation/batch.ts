// Continuous batching for a GPT: sequences join the running batch at the next step and leave it when they
// finish, and every step decodes one token for each running sequence with one batched forward. Each sequence
// keeps its own KV cache (its own length and positions): a newcomer's prompt is run once, alone, into its
// cache, and from then on its row of the batch attends over that cache only. The projections and feed-forward
// layers see the whole batch, which is where batching pays: one read of the weights serves every row.
import { noGrad } from '../autograd';
import { assertPositiveInt } from '../checks';
import { GPT } from '../models/gpt';
import { KVCache, KVCacheRows } from '../nn/cache';
import { tensor, tidy } from '../tensor';
import { ChooseToken, greedyChoice, samplingChoice } from './generate';

export interface BatchSequenceOptions {
  /** Most new tokens, the end token included (default and limit: contextLength - prompt length + 1, as
   * greedy() and sample() allow). */
  maxTokens?: number;
  /** 0 (default) takes the most likely token; above 0 samples from the temperature, topK and topP filtered
   * distribution with draws seeded by seed (as sample() with the same options). */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** The sequence stops, with finish 'stop', when it draws this token (which is not emitted). */
  eosId?: number | null;
}

/** One sequence's outcome of a step: its new token (null when it drew the end token), and why it finished,
 * if it did. */
export interface BatchToken {
  id: number;
  token: number | null;
  finish: 'stop' | 'length' | null;
}

interface Sequence {
  id: number;
  prompt: number[];
  cache: KVCache;
  choose: ChooseToken;
  maxTokens: number;
  eosId: number | null;
  generated: number;
  last: number;
}

export class ContinuousBatcher {
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly maxBatch: number;

  /** maxBatch: the most sequences decoded in one step; more wait for a free row. */
  constructor(
    private readonly model: GPT,
    options: { maxBatch?: number } = {},
  ) {
    if (!(model instanceof GPT)) throw new TypeError('ContinuousBatcher: model must be a GPT');
    this.maxBatch = options.maxBatch ?? 16;
    assertPositiveInt('ContinuousBatcher', 'maxBatch', this.maxBatch);
    model.eval();
  }

  /** Sequences running or waiting for a row. */
  get size(): number {
    return this.running.length + this.waiting.length;
  }

  /** Queues a prompt; its tokens come from the following calls of step(). Throws on a prompt that is empty,
   * holds ids outside the vocabulary or does not fit the context, or on a duplicate id. */
  add(id: number, prompt: readonly number[], options: BatchSequenceOptions = {}): void {
    const op = 'ContinuousBatcher.add';
    const { vocabSize, contextLength } = this.model.config;
    if (this.find(id) !== null) throw new RangeError(`${op}: sequence ${id} is already running`);
    if (!Array.isArray(prompt) || prompt.length === 0) throw new RangeError(`${op}: the prompt must hold token ids`);
    prompt.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize)
        throw new RangeError(`${op}: prompt[${i}] = ${t} is not a token id in [0, ${vocabSize})`);
    });
    if (prompt.length > contextLength)
      throw new RangeError(`${op}: the prompt length ${prompt.length} exceeds contextLength ${contextLength}`);
    const limit = contextLength - prompt.length + 1;
    const maxTokens = options.maxTokens ?? limit;
    assertPositiveInt(op, 'maxTokens', maxTokens);
    const temperature = options.temperature ?? 0;
    const choose = temperature === 0 ? greedyChoice : samplingChoice('sample', { ...options, temperature });
    this.waiting.push({
      id,
      prompt: [...prompt],
      cache: new KVCache(),
      choose,
      maxTokens: Math.min(maxTokens, limit),
      eosId: options.eosId ?? null,
      generated: 0,
      last: -1,
    });
  }

  /** Drops a sequence (running or waiting) and frees its cache; unknown ids are ignored. */
  cancel(id: number): void {
    for (const list of [this.running, this.waiting]) {
      const i = list.findIndex((s) => s.id === id);
      if (i >= 0) list.splice(i, 1)[0].cache.dispose();
    }
  }

  /** One decoding step: a token for every running sequence (one batched forward), then the first token of
   * each sequence that gets a free row (its prompt run alone). Finished sequences leave the batch. */
  step(): BatchToken[] {
    const out: BatchToken[] = [];
    if (this.running.length > 0) {
      const rows = [...this.running];
      const logits = this.forward(
        rows.map((s) => [s.last]),
        new KVCacheRows(rows.map((s) => s.cache)),
      );
      rows.forEach((s, b) => out.push(this.advance(s, logits, b)));
    }
    while (this.waiting.length > 0 && this.running.length < this.maxBatch) {
      const s = this.waiting.shift() as Sequence;
      this.running.push(s);
      out.push(this.advance(s, this.forward([s.prompt], s.cache), 0));
    }
    return out;
  }

  dispose(): void {
    for (const s of [...this.running, ...this.waiting]) s.cache.dispose();
    this.running.length = 0;
    this.waiting.length = 0;
  }

  /** Next-token logits at the last position of each row of ids (rows of equal length). */
  private forward(ids: number[][], cache: KVCache | KVCacheRows): Float32Array {
    const B = ids.length;
    const T = ids[0].length;
    return noGrad(() =>
      tidy(() => {
        const input = tensor(Int32Array.from(ids.flat()), { shape: [B, T], dtype: 'int32' });
        const logits = this.model.forward(input, { cache });
        return logits.slice(1, T - 1, T).dataSync() as Float32Array;
      }),
    );
  }

  /** Chooses row b's token and retires the sequence when it is done. */
  private advance(s: Sequence, logits: Float32Array, b: number): BatchToken {
    const V = this.model.config.vocabSize;
    const token = s.choose(logits, b * V, V);
    s.generated++;
    let result: BatchToken;
    if (token === s.eosId) result = { id: s.id, token: null, finish: 'stop' };
    else result = { id: s.id, token, finish: s.generated >= s.maxTokens ? 'length' : null };
    s.last = token;
    if (result.finish !== null) this.cancel(s.id);
    return result;
  }

  private find(id: number): Sequence | null {
    return this.running.find((s) => s.id === id) ?? this.waiting.find((s) => s.id === id) ?? null;
  }
}
