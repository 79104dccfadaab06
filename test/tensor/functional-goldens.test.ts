// The functional ops against PyTorch 1.13 (values written by test/golden/make_goldens.py): forward outputs and
// input gradients, max relative error <= 1e-4.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { F, Tensor, tensor, tidy } from '../../src';
import { maxRelError } from '../helpers';

interface Packed {
  shape: number[];
  data: number[];
}
interface GoldenCase {
  inputs: Record<string, Packed>;
  output: Packed;
  upstream: Packed;
  grads: Record<string, Packed>;
  options?: Record<string, unknown>;
}
const goldens = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'golden', 'goldens.json'), 'utf8')) as {
  cases: Record<string, GoldenCase>;
};

const INTEGER_INPUTS = new Set(['targets', 'keyPaddingMask']);

/** Runs fn on the case's inputs, back-propagates the stored upstream gradient, and compares everything. */
function check(name: string, fn: (inputs: Record<string, Tensor>, options: Record<string, unknown>) => Tensor): void {
  const c = goldens.cases[name];
  tidy(() => {
    const inputs: Record<string, Tensor> = {};
    for (const [key, packed] of Object.entries(c.inputs)) {
      const integer = INTEGER_INPUTS.has(key);
      inputs[key] = tensor(packed.data, {
        shape: packed.shape,
        dtype: integer ? 'int32' : 'float32',
        requiresGrad: !integer && key in c.grads,
      });
    }
    const out = fn(inputs, c.options ?? {});
    expect(out.shape).toEqual(c.output.shape);
    expect(maxRelError(out.dataSync(), c.output.data)).toBeLessThanOrEqual(1e-4);
    out.backward(tensor(c.upstream.data, { shape: c.upstream.shape }));
    for (const [key, packed] of Object.entries(c.grads)) {
      if (key === 'attnMask') continue; // masks are constants here
      const grad = inputs[key].grad;
      expect(grad).not.toBeNull();
      expect(maxRelError((grad as Tensor).dataSync(), packed.data)).toBeLessThanOrEqual(1e-4);
    }
  });
}

describe('PyTorch goldens', () => {
  test('linear', () => check('linear', (i) => F.linear(i.x, i.weight, i.bias)));
  test('layerNorm over the last dim', () => check('layerNorm', (i) => F.layerNorm(i.x, [7], i.weight, i.bias, 1e-5)));
  test('layerNorm over two dims', () => check('layerNorm2d', (i) => F.layerNorm(i.x, [3, 5], i.weight, i.bias, 1e-5)));
  test('softmax along the last dim', () => check('softmaxLast', (i) => F.softmax(i.x, -1)));
  test('softmax along a middle dim', () => check('softmaxMiddle', (i) => F.softmax(i.x, 1)));
  test('logSoftmax', () => check('logSoftmax', (i) => F.logSoftmax(i.x, -1)));
  test('crossEntropy with label smoothing and ignoreIndex', () =>
    check('crossEntropy', (i, o) => F.crossEntropy(i.logits, i.targets, o)));
  test('crossEntropy without reduction', () =>
    check('crossEntropyNone', (i, o) => F.crossEntropy(i.logits, i.targets, o)));
  test('gelu (erf)', () => check('gelu', (i) => F.gelu(i.x)));
  test('gelu (tanh)', () => check('geluTanh', (i) => F.gelu(i.x, { approximate: 'tanh' })));
  test('attention, causal, Tq != Tk', () =>
    check('attentionCausal', (i) => F.scaledDotProductAttention(i.q, i.k, i.v, { isCausal: true })));
  test('attention with a key-padding mask', () =>
    check('attentionPadding', (i) => F.scaledDotProductAttention(i.q, i.k, i.v, { keyPaddingMask: i.keyPaddingMask })));
  test('attention with a float mask', () =>
    check('attentionFloatMask', (i) => F.scaledDotProductAttention(i.q, i.k, i.v, { attnMask: i.attnMask })));
});
