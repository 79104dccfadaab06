// Reverse-mode autograd bookkeeping: a node per recorded op, and the switch that turns recording off.
import type { Tensor } from './tensor';

/** Given the gradient of the op's output, returns one gradient per input (null where none is needed). */
export type BackwardFn = (gradOutput: Tensor) => Array<Tensor | null>;

export class GradNode {
  constructor(
    readonly name: string,
    /** The op's inputs; gradients flow to those that require them. */
    public inputs: Array<Tensor | null>,
    public backwardFn: BackwardFn | null,
  ) {}

  /** Drops references to inputs and saved tensors after a backward pass (unless retainGraph). */
  release(): void {
    this.inputs = [];
    this.backwardFn = null;
  }
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording operations for autograd (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Runs fn with recording on, even inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}
