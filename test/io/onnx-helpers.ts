// Running exported models in onnxruntime-node: int64 feeds from id rows, empty KV caches, greedy decoding through
// the cached graphs, onnx.checker where Python's onnx is installed, and a few training steps for "trained" models.
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { noGrad } from '../../src/autograd';
import * as F from '../../src/functional';
import { Module } from '../../src/nn';
import { AdamW } from '../../src/optim';
import { tensor, Tensor, tidy } from '../../src/tensor';

/** rows (equal lengths) as an int64 [B, T] tensor. */
export function int64(rows: number[][]): ort.Tensor {
  const flat = rows.flat().map((v) => BigInt(v));
  return new ort.Tensor('int64', BigInt64Array.from(flat), [rows.length, rows[0].length]);
}

/** rows as an int32 [B, T] tensor of ours. */
export function ids(rows: number[][]): Tensor {
  return tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0].length], dtype: 'int32' });
}

/** 1 for tokens, 0 where the row holds padId. */
export function attentionMask(rows: number[][], padId: number): number[][] {
  return rows.map((r) => r.map((v) => (v === padId ? 0 : 1)));
}

/** B rows of length T of ids in [1, vocab) (seeded), the last `pad[b]` positions of row b set to padId. */
export function paddedRows(B: number, T: number, vocab: number, seed: number, pad: number[] = [], padId = 0) {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 1 + (s % (vocab - 1));
  };
  return Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, t) => (t >= T - (pad[b] ?? 0) ? padId : next())),
  );
}

/** The zero-length past_key_values.N.key/value of a cached graph. */
export function emptyPast(layers: number, B: number, heads: number, headDim: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < layers; i++)
    for (const kind of ['key', 'value'])
      feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [B, heads, 0, headDim]);
  return feeds;
}

/** present.N.* of a run's outputs as the next call's past_key_values.N.*. */
export function presentAsPast(outputs: ort.InferenceSession.OnnxValueMapType): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, value] of Object.entries(outputs))
    if (name.startsWith('present.')) feeds[name.replace('present.', 'past_key_values.')] = value as ort.Tensor;
  return feeds;
}

/** Index of the largest of values[offset .. offset + n). */
export function argmaxAt(values: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

/**
 * Greedy decoding through a cached decoder graph: the first call feeds `start` (one row per sequence, equal
 * lengths) with empty caches, each later call one token per row with the returned caches. `extra` are the other
 * feeds (the encoder's outputs). Returns each row's tokens, cut after eosId when given.
 */
export async function onnxGreedy(
  session: ort.InferenceSession,
  start: number[][],
  past: Record<string, ort.Tensor>,
  extra: Record<string, ort.Tensor>,
  steps: number,
  eosId: number | null,
): Promise<number[][]> {
  const B = start.length;
  const tokens: number[][] = start.map(() => []);
  let feeds: Record<string, ort.Tensor> = { ...extra, ...past, input_ids: int64(start) };
  for (let step = 0; step < steps; step++) {
    const out = await session.run(feeds);
    const logits = out.logits as ort.Tensor;
    const [, T, V] = logits.dims;
    const data = logits.data as Float32Array;
    const next = Array.from({ length: B }, (_, b) => argmaxAt(data, (b * T + T - 1) * V, V));
    next.forEach((t, b) => tokens[b].push(t));
    feeds = { ...extra, ...presentAsPast(out), input_ids: int64(next.map((t) => [t])) };
  }
  if (eosId === null) return tokens;
  return tokens.map((row) => (row.includes(eosId) ? row.slice(0, row.indexOf(eosId) + 1) : row));
}

/** Python with the onnx package (Debian's python3-onnx), or null when there is none. */
export function pythonWithOnnx(): string | null {
  for (const python of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(python, ['-c', 'import onnx'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return null;
}

/** Runs onnx.checker.check_model(file, full_check=True) (on the path, so external data is read too); returns
 * the error text, or '' when the model passes. */
export function onnxCheck(python: string, file: string): string {
  const script = 'import sys, onnx\nonnx.checker.check_model(sys.argv[1], full_check=True)\n';
  const run = spawnSync(python, ['-c', script, file], { encoding: 'utf8', timeout: 120_000 });
  return run.status === 0 ? '' : `${run.stderr}${run.stdout}`.trim();
}

/** A few AdamW steps of `loss` so that weights move away from their initialisation (biases, norms included). */
export function train(model: Module, loss: () => Tensor, steps = 15, lr = 3e-3): void {
  model.train();
  const optimizer = new AdamW(model.parameters(), { lr, weightDecay: 0 });
  for (let i = 0; i < steps; i++)
    tidy(() => {
      loss().backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  optimizer.dispose();
  model.eval();
}

/** Cross-entropy of logits [..., V] against targets (same leading shape). */
export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  const V = logits.shape[logits.ndim - 1];
  return F.crossEntropy(logits.reshape(-1, V), targets.reshape(-1));
}

/** Our forward's output values, outside autograd. */
export function ours(fn: () => Tensor): Float32Array {
  return noGrad(() => tidy(() => fn().dataSync() as Float32Array));
}

/** max |actual - expected| / max |expected|: the error relative to the size of the output. (Elementwise
 * relative errors blow up where a logit is near zero: the two runtimes' float32 sums differ in order, by a few
 * 1e-7 in absolute terms whatever the value.) */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= worst)) worst = e; // NaN propagates as the worst case
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return worst / scale;
}
