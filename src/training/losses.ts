// The default training losses, chosen from the batch's shape: next-token prediction for language-model batches,
// teacher-forced target prediction for sequence-to-sequence batches, and class prediction for classification.
import * as F from '../functional';
import { PAD_ID } from '../data/tokenizers/base';
import type { Module } from '../nn/module';
import { Tensor } from '../tensor';

/** What a loss function returns: the scalar loss to back-propagate and, optionally, the target tokens it
 * covered (for tokens/s). */
export interface LossOutput {
  loss: Tensor;
  numTokens?: number;
}

export type LossFn<B> = (model: Module, batch: B) => LossOutput;

/** A classification batch: token ids, padding mask and one int32 label per row. */
export interface ClassificationBatch {
  input: Tensor;
  keyPaddingMask: Tensor;
  labels: Tensor;
  indices: number[];
}

export interface DefaultLossOptions {
  labelSmoothing?: number;
}

function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

/** Cross-entropy over every position of [B, T, V] logits against [B, T] targets. */
function tokenLoss(logits: Tensor, targets: Tensor, ignoreIndex: number, labelSmoothing: number): Tensor {
  const vocab = logits.shape[logits.ndim - 1];
  return F.crossEntropy(logits.reshape([-1, vocab]), targets.reshape([-1]), { ignoreIndex, labelSmoothing });
}

/** A loss function for the library's batch types, calling the model the way its family expects:
 * - `{ input, target }` (LanguageModelDataLoader): `model.forward(input)` -> [B, T, V] logits, targets padded with -100;
 * - `{ src, tgtIn, tgtOut, srcKeyPaddingMask, tgtKeyPaddingMask }` (Seq2SeqDataLoader):
 *   `model.forward(src, tgtIn, { srcKeyPaddingMask, tgtKeyPaddingMask })`, padding (model.config.padId, else 0)
 *   ignored;
 * - `{ input, keyPaddingMask, labels }` (classification): `model.forward(input, { keyPaddingMask })` -> [B, C]. */
export function defaultLossFn(options: DefaultLossOptions = {}): LossFn<unknown> {
  const labelSmoothing = options.labelSmoothing ?? 0;
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    throw new RangeError(`defaultLossFn: labelSmoothing must be in [0, 1), got ${labelSmoothing}`);
  return (model, batch) => {
    const b = batch as Record<string, unknown>;
    if (b === null || typeof b !== 'object')
      throw new TypeError(`defaultLossFn: a batch must be an object, got ${b === null ? 'null' : typeof b}`);
    if (isTensor(b.src) && isTensor(b.tgtIn) && isTensor(b.tgtOut)) {
      const logits = model.forward(b.src, b.tgtIn, {
        srcKeyPaddingMask: b.srcKeyPaddingMask,
        tgtKeyPaddingMask: b.tgtKeyPaddingMask,
      }) as Tensor;
      const config = (model as { config?: { padId?: number } }).config;
      const loss = tokenLoss(logits, b.tgtOut, config?.padId ?? PAD_ID, labelSmoothing);
      return { loss, numTokens: typeof b.numTargetTokens === 'number' ? b.numTargetTokens : undefined };
    }
    if (isTensor(b.input) && isTensor(b.target)) {
      const logits = model.forward(b.input) as Tensor;
      return {
        loss: tokenLoss(logits, b.target, -100, labelSmoothing),
        numTokens: typeof b.numTargetTokens === 'number' ? b.numTargetTokens : undefined,
      };
    }
    if (isTensor(b.input) && isTensor(b.labels)) {
      const logits = model.forward(b.input, { keyPaddingMask: b.keyPaddingMask }) as Tensor;
      return { loss: F.crossEntropy(logits, b.labels, { labelSmoothing }), numTokens: b.input.size };
    }
    throw new TypeError(
      `defaultLossFn: cannot tell the task from a batch with keys [${Object.keys(b).join(', ')}]; expected { input, target }, ` +
        '{ src, tgtIn, tgtOut, ... } or { input, keyPaddingMask, labels } - pass a lossFn for other batches',
    );
  };
}
