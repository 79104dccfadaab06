// Positional encodings added to [B, T, dModel] (or [T, dModel]) inputs. `offset` is the position of the first
// row, so a decoder fed one new token at a time keeps adding the right encodings.
import { assertPositiveInt, fmtShape } from '../checks';
import { embedding } from '../ops';
import { normal, tensor, Tensor } from '../tensor';
import { Module, seedStream } from './module';

function checkInput(op: string, x: Tensor, dModel: number, maxLen: number, offset: number): number {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: input must be a Tensor`);
  if (x.ndim < 2 || x.shape[x.ndim - 1] !== dModel)
    throw new RangeError(`${op}: input must be [..., T, ${dModel}], got ${fmtShape(x.shape)}`);
  assertPositiveInt(op, 'offset', offset, { allowZero: true });
  const T = x.shape[x.ndim - 2];
  if (offset + T > maxLen)
    throw new RangeError(`${op}: positions ${offset}..${offset + T - 1} exceed maxLen ${maxLen}`);
  return T;
}

function checkSizes(op: string, dModel: number, maxLen: number): void {
  assertPositiveInt(op, 'dModel', dModel);
  assertPositiveInt(op, 'maxLen', maxLen);
}

/** The paper's fixed encodings: pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(same). Held in the
 * non-persistent buffer `pe` [maxLen, dModel] (recomputed, not saved, so maxLen can change between runs). */
export class SinusoidalPositionalEncoding extends Module {
  readonly pe: Tensor;

  constructor(
    readonly dModel: number,
    readonly maxLen = 5000,
  ) {
    super();
    checkSizes('SinusoidalPositionalEncoding', dModel, maxLen);
    const table = new Float32Array(maxLen * dModel);
    for (let i = 0; i < dModel; i += 2) {
      const frequency = Math.exp((-i * Math.log(10000)) / dModel);
      for (let pos = 0; pos < maxLen; pos++) {
        table[pos * dModel + i] = Math.sin(pos * frequency);
        if (i + 1 < dModel) table[pos * dModel + i + 1] = Math.cos(pos * frequency);
      }
    }
    this.pe = this.registerBuffer('pe', tensor(table, { shape: [maxLen, dModel] }), { persistent: false });
  }

  /** x + pe[offset : offset + T]. */
  override forward(x: Tensor, offset = 0): Tensor {
    const T = checkInput('SinusoidalPositionalEncoding', x, this.dModel, this.maxLen, offset);
    const rows = this.pe.slice(0, offset, offset + T);
    const out = x.add(rows);
    rows.dispose(); // the add's backward needs only its shape
    return out;
  }
}

/** Trained encodings: parameter `weight` [maxLen, dModel], N(0, 0.02) at init (as GPT-2/BERT position tables). */
export class LearnedPositionalEncoding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly maxLen: number,
    readonly dModel: number,
    options: { std?: number; seed?: number } = {},
  ) {
    super();
    checkSizes('LearnedPositionalEncoding', dModel, maxLen);
    const std = options.std ?? 0.02;
    if (!(std >= 0) || !Number.isFinite(std))
      throw new RangeError(`LearnedPositionalEncoding: std must be a non-negative number, got ${std}`);
    const seed = seedStream('LearnedPositionalEncoding', options.seed)();
    this.weight = this.registerParameter('weight', normal([maxLen, dModel], 0, std, { seed }));
  }

  /** x + weight[offset : offset + T]; the gradient reaches those rows only. */
  override forward(x: Tensor, offset = 0): Tensor {
    const T = checkInput('LearnedPositionalEncoding', x, this.dModel, this.maxLen, offset);
    return x.add(this.weight.slice(0, offset, offset + T));
  }

  /** x [B, T, dModel] + weight[offsets[b] + t] in row b: rows at different positions (continuous batching). */
  forwardRows(x: Tensor, offsets: readonly number[]): Tensor {
    const op = 'LearnedPositionalEncoding.forwardRows';
    if (!(x instanceof Tensor) || x.ndim !== 3 || x.shape[2] !== this.dModel)
      throw new RangeError(`${op}: input must be [B, T, ${this.dModel}]`);
    const [B, T] = x.shape;
    if (!Array.isArray(offsets) || offsets.length !== B)
      throw new RangeError(`${op}: offsets must hold one position per row (${B}), got ${String(offsets?.length)}`);
    const ids = new Int32Array(B * T);
    offsets.forEach((offset, b) => {
      checkInput(op, x, this.dModel, this.maxLen, offset);
      for (let t = 0; t < T; t++) ids[b * T + t] = offset + t;
    });
    return x.add(embedding(tensor(ids, { shape: [B, T], dtype: 'int32', device: this.weight.device }), this.weight));
  }
}
