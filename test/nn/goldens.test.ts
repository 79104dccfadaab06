// nn modules against PyTorch 1.13 (values written by test/golden/make_nn_goldens.py): a torch state_dict loads
// as is, and the outputs and every parameter gradient match to a max relative error of 1e-4.
// Outputs use the usual floor (errors relative to max(|expected|, 1e-3)). Parameter gradients reach ~10 after
// a dozen layers while holding elements near 1e-3 whose float32 rounding error is ~1e-7 of that scale, so
// their floor is 1e-2 of the tensor's largest magnitude: PyTorch's own float32 gradients miss these float64
// references by 4.4e-4 under the fixed floor and by 1.2e-4 under a 1e-3 * scale floor.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as nn from '../../src/nn';
import { Tensor, tensor, tidy } from '../../src/tensor';
import { loadSafetensors } from '../../src/io';
import { maxRelError } from '../helpers';

interface Quantized {
  shape: number[];
  q: number[];
}
interface Packed {
  shape: number[];
  data: number[];
}
interface GoldenCase {
  config: Record<string, number | string | boolean>;
  state: Record<string, Quantized>;
  inputs: Record<string, Quantized>;
  masks: Record<string, Packed | Quantized>;
  output: Packed;
  weights?: Packed;
  grads: Record<string, Packed>;
  inputGrads?: Record<string, Packed>;
}
const goldens = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'golden', 'nn_goldens.json'), 'utf8')) as {
  scale: number;
  cases: Record<string, GoldenCase>;
};

function dequantize(p: Quantized, requiresGrad = false): Tensor {
  return tensor(
    Float32Array.from(p.q, (v) => v / goldens.scale),
    { shape: p.shape, requiresGrad },
  );
}

function boolMask(p: Packed): Tensor {
  return tensor(
    p.data.map((v) => v !== 0),
    { shape: p.shape },
  );
}

function loadState(module: nn.Module, c: GoldenCase): void {
  const state = new Map(Object.entries(c.state).map(([name, q]) => [name, dequantize(q)]));
  const { missingKeys, unexpectedKeys } = module.loadStateDict(state);
  expect(missingKeys).toEqual([]);
  expect(unexpectedKeys).toEqual([]);
  for (const t of state.values()) t.dispose();
}

function expectClose(actual: Tensor, expected: Packed, what: string, floor = 1e-3): void {
  expect({ what, shape: actual.shape }).toEqual({ what, shape: expected.shape });
  const err = maxRelError(actual.dataSync(), expected.data, floor);
  if (!(err <= 1e-4)) throw new Error(`${what}: max relative error ${err}`);
}

function expectParameterGrads(module: nn.Module, c: GoldenCase): void {
  const names = module.namedParameters().map(([name]) => name);
  expect(names.sort()).toEqual(Object.keys(c.grads).sort());
  for (const [name, p] of module.namedParameters()) {
    expect(p.grad).not.toBeNull();
    const scale = c.grads[name].data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(p.grad as Tensor, c.grads[name], `grad of ${name}`, Math.max(1e-3, 1e-2 * scale));
  }
}

describe.each(['transformer', 'transformerNormFirstGelu'])('nn.Transformer vs PyTorch (%s)', (name) => {
  const c = goldens.cases[name];
  test('loads the torch state_dict, matches the output and every parameter gradient', () => {
    const model = new nn.Transformer({
      dModel: c.config.dModel as number,
      nhead: c.config.nhead as number,
      numEncoderLayers: c.config.numEncoderLayers as number,
      numDecoderLayers: c.config.numDecoderLayers as number,
      dimFeedforward: c.config.dimFeedforward as number,
      dropout: c.config.dropout as number,
      normFirst: c.config.normFirst as boolean,
      activation: c.config.activation as 'relu' | 'gelu',
      seed: 1,
    }).eval();
    loadState(model, c);
    tidy(() => {
      const src = dequantize(c.inputs.src);
      const tgt = dequantize(c.inputs.tgt);
      const T = tgt.shape[1];
      const tgtMask = nn.Transformer.generateSquareSubsequentMask(T);
      // The generated mask is PyTorch's: -Infinity exactly where torch's is.
      expect(Array.from(tgtMask.dataSync(), (v) => (v === -Infinity ? 1 : v === 0 ? 0 : NaN))).toEqual(
        (c.masks.tgtCausal as Packed).data,
      );
      const out = model.forward(src, tgt, {
        tgtMask,
        memoryMask: boolMask(c.masks.memoryMask as Packed),
        srcKeyPaddingMask: boolMask(c.masks.srcKeyPaddingMask as Packed),
        tgtKeyPaddingMask: boolMask(c.masks.tgtKeyPaddingMask as Packed),
        memoryKeyPaddingMask: boolMask(c.masks.srcKeyPaddingMask as Packed),
      });
      expectClose(out, c.output, 'output');
      out.backward(dequantize(c.inputs.upstream));
    });
    expectParameterGrads(model, c);
    model.dispose();
  });
});

test('a torch.nn.Transformer state_dict saved as safetensors loads unchanged and gives its output', () => {
  const c = goldens.cases.transformer;
  const { tensors, metadata } = loadSafetensors(path.join(__dirname, '..', 'golden', 'transformer.safetensors'));
  expect(metadata).toEqual({ format: 'pt' });
  expect([...tensors.keys()]).toContain('encoder.layers.0.self_attn.in_proj_weight');
  const model = new nn.Transformer({
    dModel: 16,
    nhead: 4,
    numEncoderLayers: 2,
    numDecoderLayers: 2,
    dimFeedforward: 32,
    dropout: 0,
    seed: 3,
  }).eval();
  const { missingKeys, unexpectedKeys } = model.loadStateDict(tensors);
  expect([missingKeys, unexpectedKeys]).toEqual([[], []]);
  for (const t of tensors.values()) t.dispose();
  tidy(() => {
    const out = model.forward(dequantize(c.inputs.src), dequantize(c.inputs.tgt), {
      tgtMask: nn.Transformer.generateSquareSubsequentMask(c.inputs.tgt.shape[1]),
      memoryMask: boolMask(c.masks.memoryMask as Packed),
      srcKeyPaddingMask: boolMask(c.masks.srcKeyPaddingMask as Packed),
      tgtKeyPaddingMask: boolMask(c.masks.tgtKeyPaddingMask as Packed),
      memoryKeyPaddingMask: boolMask(c.masks.srcKeyPaddingMask as Packed),
    });
    expectClose(out, c.output, 'output');
  });
  model.dispose();
});

describe('nn.MultiheadAttention vs PyTorch', () => {
  test('kdim/vdim projections, float attnMask, key padding, averaged weights', () => {
    const c = goldens.cases.mhaKdimVdim;
    const mha = new nn.MultiheadAttention(c.config.embedDim as number, c.config.numHeads as number, {
      kdim: c.config.kdim as number,
      vdim: c.config.vdim as number,
    });
    expect(mha.namedParameters().map(([n]) => n)).toEqual([
      'q_proj_weight',
      'k_proj_weight',
      'v_proj_weight',
      'in_proj_bias',
      'out_proj.weight',
      'out_proj.bias',
    ]);
    loadState(mha, c);
    tidy(() => {
      const query = dequantize(c.inputs.query, true);
      const key = dequantize(c.inputs.key, true);
      const value = dequantize(c.inputs.value, true);
      const { output, weights } = mha.forward(query, key, value, {
        attnMask: dequantize(c.masks.attnMaskFloat as Quantized),
        keyPaddingMask: boolMask(c.masks.keyPaddingMask as Packed),
        needWeights: true,
      });
      expectClose(output, c.output, 'output');
      expectClose(weights as Tensor, c.weights as Packed, 'weights');
      output.backward(dequantize(c.inputs.upstream));
      const inputGrads = c.inputGrads as Record<string, Packed>;
      expectClose(query.grad as Tensor, inputGrads.query, 'grad of query');
      expectClose(key.grad as Tensor, inputGrads.key, 'grad of key');
      expectClose(value.grad as Tensor, inputGrads.value, 'grad of value');
    });
    expectParameterGrads(mha, c);
    mha.dispose();
  });

  test('packed self-attention, bool [B * H, L, L] mask, per-head weights', () => {
    const c = goldens.cases.mhaSelfPerHead;
    const mha = new nn.MultiheadAttention(c.config.embedDim as number, c.config.numHeads as number);
    loadState(mha, c);
    tidy(() => {
      const query = dequantize(c.inputs.query, true);
      const { output, weights } = mha.forward(query, query, query, {
        attnMask: boolMask(c.masks.attnMask as Packed),
        averageAttnWeights: false,
      });
      expectClose(output, c.output, 'output');
      expectClose(weights as Tensor, c.weights as Packed, 'weights');
      output.backward(dequantize(c.inputs.upstream));
      expectClose(query.grad as Tensor, (c.inputGrads as Record<string, Packed>).query, 'grad of query');
    });
    expectParameterGrads(mha, c);
    mha.dispose();
  });
});
