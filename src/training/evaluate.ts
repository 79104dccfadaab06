// Loss over a whole evaluation set, with each batch built, used and freed inside one tidy().
import { noGrad } from '../autograd';
import type { Module } from '../nn/module';
import { tidy } from '../tensor';
import { defaultLossFn, LossFn } from './losses';

export interface EvaluateLossOptions<B> {
  /** Default: defaultLossFn(). */
  lossFn?: LossFn<B>;
}

/** The loss over every batch of `batches`, in eval mode without gradients: batches are weighted by the tokens
 * their loss covered (numTokens) when the loss function reports them, else equally. For a DataLoader this reads
 * the rest of its current epoch, so pass a loader kept for evaluation (or loader.epoch(0)). */
export function evaluateLoss<B>(
  model: Module,
  batches: Iterable<B>,
  options: EvaluateLossOptions<B> = {},
): { loss: number; numTokens: number } {
  if (batches === null || typeof (batches as Iterable<B>)?.[Symbol.iterator] !== 'function')
    throw new TypeError('evaluateLoss: batches must be iterable');
  const lossFn = options.lossFn ?? (defaultLossFn() as LossFn<B>);
  const wasTraining = model.training;
  model.eval();
  let weighted = 0;
  let weights = 0;
  let numTokens = 0;
  try {
    const iterator = batches[Symbol.iterator]();
    noGrad(() => {
      // The batch is pulled inside the scope, so its tensors are freed with the step's.
      while (
        tidy(() => {
          const next = iterator.next();
          if (next.done) return false;
          const out = lossFn(model, next.value);
          const value = out.loss.item();
          const weight = out.numTokens ?? 1;
          weighted += value * weight;
          weights += weight;
          numTokens += out.numTokens ?? 0;
          return true;
        })
      );
    });
  } finally {
    model.train(wasTraining);
  }
  if (weights === 0) throw new RangeError('evaluateLoss: no batches to evaluate');
  return { loss: weighted / weights, numTokens };
}
