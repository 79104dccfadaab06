// GPT-2 (GPT2LMHeadModel, GPT2Model) as a GPT: the same pre-LN blocks with learned positions and an LM head
// tied to the token embedding. HF's Conv1D layers store weights [in, out], so every matrix is transposed on the
// way in and out; c_attn's [E, 3E] becomes the packed in_proj_weight [3E, E] (q, k, v in the same order).
import { GPT } from '../gpt';
import { ConfigReader, HFConfig } from './config';
import { WeightMap, WeightRule } from './weights';

const ACTIVATIONS = {
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  gelu: 'gelu',
  relu: 'relu',
} as const;
const ARCHITECTURES = ['GPT2LMHeadModel', 'GPT2Model'];

export function gpt2FromConfig(op: string, hf: HFConfig): GPT {
  const c = new ConfigReader(op, hf);
  c.architecture('gpt2', ARCHITECTURES);
  c.requireDefault('scale_attn_weights', true);
  c.requireDefault('scale_attn_by_inverse_layer_idx', false);
  c.requireDefault('add_cross_attention', false);
  const dModel = c.int('n_embd');
  return new GPT({
    vocabSize: c.int('vocab_size'),
    contextLength: c.int('n_positions'),
    dModel,
    nhead: c.int('n_head'),
    numLayers: c.int('n_layer'),
    dimFeedforward: c.int('n_inner', 4 * dModel),
    dropout: c.rate('resid_pdrop', 0.1),
    activation: c.choice('activation_function', ACTIVATIONS, 'gelu_new'),
    layerNormEps: c.positive('layer_norm_epsilon', 1e-5),
    normFirst: true,
    tieEmbeddings: c.flag('tie_word_embeddings', true),
  });
}

export function gpt2Config(op: string, model: GPT): HFConfig {
  const c = model.config;
  if (!c.normFirst) throw new RangeError(`${op}: a GPT with normFirst false has no GPT-2 equivalent (GPT-2 is pre-LN)`);
  const activation = { gelu_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' }[c.activation];
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_ctx: c.contextLength,
    n_embd: c.dModel,
    n_head: c.nhead,
    n_layer: c.numLayers,
    n_inner: c.dimFeedforward,
    activation_function: activation,
    resid_pdrop: c.dropout,
    embd_pdrop: c.dropout,
    attn_pdrop: c.dropout,
    layer_norm_epsilon: c.layerNormEps,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    tie_word_embeddings: c.tieEmbeddings,
    torch_dtype: 'float32',
  };
}

function layerNorm(ours: string, hf: string): WeightRule[] {
  return [
    { ours: `${ours}.weight`, hf: [`${hf}.weight`], base: true },
    { ours: `${ours}.bias`, hf: [`${hf}.bias`], base: true },
  ];
}

function conv1d(ours: string, hf: string): WeightRule[] {
  return [
    { ours: `${ours}.weight`, hf: [`${hf}.weight`], base: true, transpose: true },
    { ours: `${ours}.bias`, hf: [`${hf}.bias`], base: true },
  ];
}

export function gpt2Weights(model: GPT): WeightMap {
  const rules: WeightRule[] = [
    { ours: 'token_embedding.weight', hf: ['wte.weight'], base: true },
    { ours: 'position_embedding.weight', hf: ['wpe.weight'], base: true },
  ];
  for (let i = 0; i < model.config.numLayers; i++) {
    const ours = `transformer.layers.${i}`;
    const hf = `h.${i}`;
    rules.push(
      ...layerNorm(`${ours}.norm1`, `${hf}.ln_1`),
      { ours: `${ours}.self_attn.in_proj_weight`, hf: [`${hf}.attn.c_attn.weight`], base: true, transpose: true },
      { ours: `${ours}.self_attn.in_proj_bias`, hf: [`${hf}.attn.c_attn.bias`], base: true },
      ...conv1d(`${ours}.self_attn.out_proj`, `${hf}.attn.c_proj`),
      ...layerNorm(`${ours}.norm2`, `${hf}.ln_2`),
      ...conv1d(`${ours}.linear1`, `${hf}.mlp.c_fc`),
      ...conv1d(`${ours}.linear2`, `${hf}.mlp.c_proj`),
    );
  }
  rules.push(...layerNorm('transformer.norm', 'ln_f'));
  const tied = model.config.tieEmbeddings;
  if (!tied) rules.push({ ours: 'lm_head.weight', hf: ['lm_head.weight'], base: false });
  // The causal-mask buffers older files hold, and the tied head's copy of wte.
  const buffer = /^h\.\d+\.attn\.(bias|masked_bias)$/;
  return { prefix: 'transformer.', rules, ignored: (name) => buffer.test(name) || (tied && name === 'lm_head.weight') };
}
