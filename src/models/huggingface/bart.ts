// BART (BartForConditionalGeneration, BartModel) as a Seq2SeqTransformer: one `shared` embedding for encoder,
// decoder and the tied LM head, learned positions whose tables hold 2 extra rows (position p reads row p + 2),
// a LayerNorm after the embeddings of each stack, post-LN layers without a final LayerNorm, and
// final_logits_bias as the generator's bias. Separate q/k/v projections become our packed in_proj.
import { Seq2SeqTransformer } from '../seq2seq';
import { ConfigReader, HFConfig } from './config';
import { WeightMap, WeightRule } from './weights';

const ACTIVATIONS = { gelu: 'gelu', relu: 'relu' } as const;
const ARCHITECTURES = ['BartForConditionalGeneration', 'BartModel'];
/** BART's learned position tables start 2 rows in (a fairseq legacy HF keeps). */
const POSITION_OFFSET = 2;

function same(op: string, c: ConfigReader, a: string, b: string): number {
  const x = c.int(a);
  const y = c.int(b);
  if (x !== y)
    throw new RangeError(`${op}: config.json: ${a} ${x} and ${b} ${y} differ; only equal values are supported`);
  return x;
}

export function bartFromConfig(op: string, hf: HFConfig): Seq2SeqTransformer {
  const c = new ConfigReader(op, hf);
  c.architecture('bart', ARCHITECTURES);
  const vocabSize = c.int('vocab_size');
  return new Seq2SeqTransformer({
    srcVocabSize: vocabSize,
    tgtVocabSize: vocabSize,
    dModel: c.int('d_model'),
    nhead: same(op, c, 'encoder_attention_heads', 'decoder_attention_heads'),
    numEncoderLayers: c.int('encoder_layers'),
    numDecoderLayers: c.int('decoder_layers'),
    dimFeedforward: same(op, c, 'encoder_ffn_dim', 'decoder_ffn_dim'),
    dropout: c.rate('dropout', 0.1),
    activation: c.choice('activation_function', ACTIVATIONS, 'gelu'),
    normFirst: false,
    maxLen: c.int('max_position_embeddings'),
    positional: 'learned',
    positionOffset: POSITION_OFFSET,
    separatePositions: true,
    embeddingNorm: true,
    finalNorm: false,
    scaleEmbedding: c.flag('scale_embedding', false),
    shareEmbeddings: true,
    tieEmbeddings: c.flag('tie_word_embeddings', true),
    padId: c.tokenId('pad_token_id') ?? 1,
  });
}

export function bartConfig(op: string, model: Seq2SeqTransformer): HFConfig {
  const c = model.config;
  const expected: Array<[keyof typeof c, unknown]> = [
    ['normFirst', false],
    ['positional', 'learned'],
    ['positionOffset', POSITION_OFFSET],
    ['separatePositions', true],
    ['embeddingNorm', true],
    ['finalNorm', false],
    ['shareEmbeddings', true],
  ];
  const wrong = expected.filter(([key, value]) => c[key] !== value);
  if (wrong.length > 0)
    throw new RangeError(
      `${op}: this Seq2SeqTransformer has no BART equivalent: BART needs ${wrong.map(([k, v]) => `${k} ${JSON.stringify(v)} (has ${JSON.stringify(c[k])})`).join(', ')}`,
    );
  return {
    architectures: ['BartForConditionalGeneration'],
    model_type: 'bart',
    vocab_size: c.srcVocabSize,
    d_model: c.dModel,
    encoder_attention_heads: c.nhead,
    decoder_attention_heads: c.nhead,
    encoder_layers: c.numEncoderLayers,
    decoder_layers: c.numDecoderLayers,
    num_hidden_layers: c.numEncoderLayers,
    encoder_ffn_dim: c.dimFeedforward,
    decoder_ffn_dim: c.dimFeedforward,
    activation_function: c.activation,
    dropout: c.dropout,
    attention_dropout: 0,
    activation_dropout: 0,
    max_position_embeddings: c.maxLen,
    scale_embedding: c.scaleEmbedding,
    tie_word_embeddings: c.tieEmbeddings,
    pad_token_id: c.padId,
    is_encoder_decoder: true,
    init_std: 0.02,
    torch_dtype: 'float32',
  };
}

function pair(ours: string, hf: string, base = true): WeightRule[] {
  return [
    { ours: `${ours}.weight`, hf: [`${hf}.weight`], base },
    { ours: `${ours}.bias`, hf: [`${hf}.bias`], base },
  ];
}

function attention(ours: string, hf: string): WeightRule[] {
  const qkv = (what: string) => ['q_proj', 'k_proj', 'v_proj'].map((p) => `${hf}.${p}.${what}`);
  return [
    { ours: `${ours}.in_proj_weight`, hf: qkv('weight'), base: true },
    { ours: `${ours}.in_proj_bias`, hf: qkv('bias'), base: true },
    ...pair(`${ours}.out_proj`, `${hf}.out_proj`),
  ];
}

export function bartWeights(model: Seq2SeqTransformer): WeightMap {
  const c = model.config;
  const rules: WeightRule[] = [
    {
      ours: 'src_embedding.weight',
      hf: ['shared.weight'],
      base: true,
      alternatives: ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'],
    },
    { ours: 'src_positional_encoding.weight', hf: ['encoder.embed_positions.weight'], base: true },
    { ours: 'tgt_positional_encoding.weight', hf: ['decoder.embed_positions.weight'], base: true },
    ...pair('src_embedding_norm', 'encoder.layernorm_embedding'),
    ...pair('tgt_embedding_norm', 'decoder.layernorm_embedding'),
  ];
  for (let i = 0; i < c.numEncoderLayers; i++) {
    const ours = `transformer.encoder.layers.${i}`;
    const hf = `encoder.layers.${i}`;
    rules.push(
      ...attention(`${ours}.self_attn`, `${hf}.self_attn`),
      ...pair(`${ours}.norm1`, `${hf}.self_attn_layer_norm`),
      ...pair(`${ours}.linear1`, `${hf}.fc1`),
      ...pair(`${ours}.linear2`, `${hf}.fc2`),
      ...pair(`${ours}.norm2`, `${hf}.final_layer_norm`),
    );
  }
  for (let i = 0; i < c.numDecoderLayers; i++) {
    const ours = `transformer.decoder.layers.${i}`;
    const hf = `decoder.layers.${i}`;
    rules.push(
      ...attention(`${ours}.self_attn`, `${hf}.self_attn`),
      ...pair(`${ours}.norm1`, `${hf}.self_attn_layer_norm`),
      ...attention(`${ours}.multihead_attn`, `${hf}.encoder_attn`),
      ...pair(`${ours}.norm2`, `${hf}.encoder_attn_layer_norm`),
      ...pair(`${ours}.linear1`, `${hf}.fc1`),
      ...pair(`${ours}.linear2`, `${hf}.fc2`),
      ...pair(`${ours}.norm3`, `${hf}.final_layer_norm`),
    );
  }
  rules.push({
    ours: 'generator.bias',
    hf: ['final_logits_bias'],
    base: false,
    hfShape: [1, c.tgtVocabSize],
    optional: true,
  });
  if (!c.tieEmbeddings) rules.push({ ours: 'generator.weight', hf: ['lm_head.weight'], base: false });
  const tiedCopies = ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'];
  const ignored = (name: string) => tiedCopies.includes(name) || (c.tieEmbeddings && name === 'lm_head.weight');
  return { prefix: 'model.', rules, ignored };
}
