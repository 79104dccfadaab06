// The graphs of the library's models. Inputs and outputs use Hugging Face's ONNX names: input_ids (int64), an
// attention_mask with 1 for tokens and 0 for padding, encoder_hidden_states/encoder_attention_mask for the
// decoder of an encoder-decoder model, and, for incremental decoding, past_key_values.N.key/value in ->
// present.N.key/value out ([batch, heads, positions, headDim]).
import { EncoderClassifier, GPT, Seq2SeqTransformer } from '../../models';
import { Embedding, LearnedPositionalEncoding, SinusoidalPositionalEncoding, TransformerEncoder } from '../../nn';
import { GraphBuilder } from './graph';
import { decoderLayer, encoderLayer, ExportContext, KV, layerNorm, linear, Mask } from './layers';

const BATCH = 'batch_size';
const SEQUENCE = 'sequence_length';
const PAST = 'past_sequence_length';
const TOTAL = 'total_sequence_length';
const ENCODER_SEQUENCE = 'encoder_sequence_length';

/** A scalar int64 from a 1-element vector. */
function scalarOf(ctx: ExportContext, vector: string): string {
  return ctx.g.node('Squeeze', [vector, ctx.g.ints([0])]);
}

/** Dimension `axis` of x as a 1-element int64 vector. */
function dim(ctx: ExportContext, x: string, axis: number): string {
  return ctx.g.node('Shape', [x], { start: axis, end: axis + 1 });
}

/** Token embeddings of ids [B, T] (times `scale` unless 1) plus the positions past .. past + T - 1. */
function embed(
  ctx: ExportContext,
  ids: string,
  embedding: Embedding,
  name: string,
  positional: LearnedPositionalEncoding | SinusoidalPositionalEncoding,
  positionalName: string,
  past: string,
  scale = 1,
): string {
  const { g } = ctx;
  let tokens = g.node('Gather', [ctx.param(embedding.weight, `${name}.weight`), ids], { axis: 0 });
  if (scale !== 1) tokens = g.node('Mul', [tokens, g.scalar(scale)]);
  const table =
    positional instanceof SinusoidalPositionalEncoding
      ? ctx.param(positional.pe, `${positionalName}.pe`)
      : ctx.param(positional.weight, `${positionalName}.weight`);
  const end = g.node('Add', [past, dim(ctx, ids, 1)]);
  return g.node('Add', [tokens, g.node('Slice', [table, past, end, g.ints([0])])]);
}

/** The token_embedding + position_embedding of GPT and EncoderClassifier. */
function embedWithLearnedPositions(ctx: ExportContext, ids: string, model: GPT | EncoderClassifier, past: string) {
  const { tokenEmbedding, positionEmbedding } = model;
  return embed(ctx, ids, tokenEmbedding, 'token_embedding', positionEmbedding, 'position_embedding', past);
}

/** The additive [B, 1, 1, S] mask of an attention_mask [B, S] (1 = token, 0 = padding): 0 or -inf. */
function paddingMask(ctx: ExportContext, attentionMask: string): Mask {
  const { g } = ctx;
  const padding = g.node('Equal', [attentionMask, g.ints([0], [])]);
  const additive = g.node('Where', [padding, g.scalar(-Infinity), g.scalar(0)]);
  return { additive: g.node('Unsqueeze', [additive, g.ints([1, 2])]), hidesWholeRows: true };
}

/** The additive [T, past + T] causal mask of queries at positions past .. past + T - 1: -inf above the diagonal. */
function causalMask(ctx: ExportContext, past: string, length: string): Mask {
  const { g } = ctx;
  const start = scalarOf(ctx, past);
  const total = scalarOf(ctx, g.node('Add', [past, length]));
  const one = g.ints([1], []);
  const queries = g.node('Unsqueeze', [g.node('Range', [start, total, one]), g.ints([1])]);
  const keys = g.node('Range', [g.ints([0], []), total, one]);
  const future = g.node('Greater', [keys, queries]);
  // Query i always sees key i, so no row is all -inf.
  return { additive: g.node('Where', [future, g.scalar(-Infinity), g.scalar(0)]), hidesWholeRows: false };
}

/** The past_key_values inputs of `layers` layers (when cached) and the number of past positions ([1] int64). */
function pastInputs(ctx: ExportContext, layers: number, heads: number, headDim: number, cached: boolean) {
  if (!cached) return { past: null, pastLength: ctx.g.ints([0]) };
  const past: KV[] = [];
  for (let i = 0; i < layers; i++)
    past.push({
      key: ctx.g.input(`past_key_values.${i}.key`, 'float32', [BATCH, heads, PAST, headDim]),
      value: ctx.g.input(`past_key_values.${i}.value`, 'float32', [BATCH, heads, PAST, headDim]),
    });
  return { past, pastLength: dim(ctx, past[0].key, 2) };
}

function presentOutputs(ctx: ExportContext, present: KV[], heads: number, headDim: number): void {
  present.forEach((kv, i) => {
    ctx.g.output(kv.key, `present.${i}.key`, 'float32', [BATCH, heads, TOTAL, headDim]);
    ctx.g.output(kv.value, `present.${i}.value`, 'float32', [BATCH, heads, TOTAL, headDim]);
  });
}

function finalNorm(ctx: ExportContext, x: string, stack: { norm: TransformerEncoder['norm'] }, name: string) {
  return stack.norm === null ? x : layerNorm(ctx, x, stack.norm, `${name}.norm`);
}

/** GPT: input_ids [B, T] -> logits [B, T, V]; cached: also past_key_values.N.* -> present.N.*. */
export function gptGraph(model: GPT, opset: number, cached: boolean): GraphBuilder {
  const ctx = new ExportContext(new GraphBuilder('GPT'), opset);
  const c = model.config;
  const headDim = c.dModel / c.nhead;
  const ids = ctx.g.input('input_ids', 'int64', [BATCH, SEQUENCE]);
  const { past, pastLength } = pastInputs(ctx, c.numLayers, c.nhead, headDim, cached);
  let x = embedWithLearnedPositions(ctx, ids, model, pastLength);
  const mask = causalMask(ctx, pastLength, dim(ctx, ids, 1));
  const present: KV[] = [];
  [...model.transformer.layers].forEach((layer, i) => {
    const out = encoderLayer(ctx, x, layer, `transformer.layers.${i}`, { mask, past: past?.[i] ?? null });
    x = out.output;
    present.push(out.present);
  });
  x = finalNorm(ctx, x, model.transformer, 'transformer');
  ctx.g.output(linear(ctx, x, model.lmHead, 'lm_head'), 'logits', 'float32', [BATCH, SEQUENCE, c.vocabSize]);
  if (cached) presentOutputs(ctx, present, c.nhead, headDim);
  return ctx.g;
}

/** EncoderClassifier: input_ids, attention_mask [B, T] (and token_type_ids with token types, as HF's BERT exports
 * take them) -> logits [B, numClasses], or last_hidden_state [B, T, dModel] without a classifier (numClasses 0). */
export function classifierGraph(model: EncoderClassifier, opset: number): GraphBuilder {
  const ctx = new ExportContext(new GraphBuilder('EncoderClassifier'), opset);
  const { g } = ctx;
  const c = model.config;
  const ids = g.input('input_ids', 'int64', [BATCH, SEQUENCE]);
  const attentionMask = g.input('attention_mask', 'int64', [BATCH, SEQUENCE]);
  let embedded = embedWithLearnedPositions(ctx, ids, model, g.ints([0]));
  if (model.tokenTypeEmbedding !== null) {
    const types = g.input('token_type_ids', 'int64', [BATCH, SEQUENCE]);
    const table = ctx.param(model.tokenTypeEmbedding.weight, 'token_type_embedding.weight');
    embedded = g.node('Add', [embedded, g.node('Gather', [table, types], { axis: 0 })]);
  }
  let x = layerNorm(ctx, embedded, model.embeddingNorm, 'embedding_norm');
  const mask = paddingMask(ctx, attentionMask);
  [...model.encoder.layers].forEach((layer, i) => {
    x = encoderLayer(ctx, x, layer, `encoder.layers.${i}`, { mask }).output;
  });
  x = finalNorm(ctx, x, model.encoder, 'encoder');
  if (model.classifier === null) {
    g.output(x, 'last_hidden_state', 'float32', [BATCH, SEQUENCE, c.dModel]);
    return g;
  }
  let pooled: string;
  if (c.pooling === 'cls') pooled = g.node('Gather', [x, g.ints([0], [])], { axis: 1 });
  else {
    // The mean over the tokens: sum(states * m) / sum(m) with m the attention mask as [B, T, 1] floats.
    const weights = g.node('Unsqueeze', [g.node('Cast', [attentionMask], { to: 1 }), g.ints([2])]);
    const sum = g.node('ReduceSum', [g.node('Mul', [x, weights]), g.ints([1])], { keepdims: 0 });
    pooled = g.node('Div', [sum, g.node('ReduceSum', [weights, g.ints([1])], { keepdims: 0 })]);
  }
  const hidden = g.node('Tanh', [linear(ctx, pooled, model.pooler, 'pooler')]);
  g.output(linear(ctx, hidden, model.classifier, 'classifier'), 'logits', 'float32', [BATCH, c.numClasses]);
  return g;
}

/** Seq2SeqTransformer's encoder: input_ids, attention_mask [B, S] -> last_hidden_state [B, S, dModel]. */
export function seq2seqEncoderGraph(model: Seq2SeqTransformer, opset: number): GraphBuilder {
  const ctx = new ExportContext(new GraphBuilder('Seq2SeqTransformer encoder'), opset);
  const { g } = ctx;
  const c = model.config;
  const ids = g.input('input_ids', 'int64', [BATCH, SEQUENCE]);
  const mask = paddingMask(ctx, g.input('attention_mask', 'int64', [BATCH, SEQUENCE]));
  let x = embedSeq2Seq(ctx, ids, model, 'src', g.ints([0]));
  [...model.transformer.encoder.layers].forEach((layer, i) => {
    x = encoderLayer(ctx, x, layer, `transformer.encoder.layers.${i}`, { mask }).output;
  });
  x = finalNorm(ctx, x, model.transformer.encoder, 'transformer.encoder');
  g.output(x, 'last_hidden_state', 'float32', [BATCH, SEQUENCE, c.dModel]);
  return g;
}

/** Seq2SeqTransformer's decoder: input_ids [B, T], encoder_hidden_states [B, S, dModel] and
 * encoder_attention_mask [B, S] -> logits [B, T, V]; cached: also past_key_values.N.* -> present.N.* (the
 * decoder's self-attention; the memory's keys and values are projected from encoder_hidden_states each call). */
export function seq2seqDecoderGraph(model: Seq2SeqTransformer, opset: number, cached: boolean): GraphBuilder {
  const ctx = new ExportContext(new GraphBuilder('Seq2SeqTransformer decoder'), opset);
  const { g } = ctx;
  const c = model.config;
  const headDim = c.dModel / c.nhead;
  const ids = g.input('input_ids', 'int64', [BATCH, SEQUENCE]);
  const memory = g.input('encoder_hidden_states', 'float32', [BATCH, ENCODER_SEQUENCE, c.dModel]);
  const memoryMask = paddingMask(ctx, g.input('encoder_attention_mask', 'int64', [BATCH, ENCODER_SEQUENCE]));
  const { past, pastLength } = pastInputs(ctx, c.numDecoderLayers, c.nhead, headDim, cached);
  let x = embedSeq2Seq(ctx, ids, model, 'tgt', pastLength);
  const mask = causalMask(ctx, pastLength, dim(ctx, ids, 1));
  const present: KV[] = [];
  [...model.transformer.decoder.layers].forEach((layer, i) => {
    const out = decoderLayer(ctx, x, layer, `transformer.decoder.layers.${i}`, {
      mask,
      past: past?.[i] ?? null,
      memory,
      memoryMask,
    });
    x = out.output;
    present.push(out.present);
  });
  x = finalNorm(ctx, x, model.transformer.decoder, 'transformer.decoder');
  g.output(linear(ctx, x, model.generator, 'generator'), 'logits', 'float32', [BATCH, SEQUENCE, c.tgtVocabSize]);
  if (cached) presentOutputs(ctx, present, c.nhead, headDim);
  return g;
}

/** Source or target embeddings (scaled by sqrt(dModel) unless scaleEmbedding is false), plus the positions from
 * past + positionOffset of that side's table, then that side's embedding LayerNorm when the model has one. */
function embedSeq2Seq(ctx: ExportContext, ids: string, model: Seq2SeqTransformer, side: 'src' | 'tgt', past: string) {
  const c = model.config;
  // With shareEmbeddings both sides use src_embedding (tgt_embedding is the same module).
  const shared = side === 'src' || c.shareEmbeddings;
  const embedding = side === 'src' ? model.srcEmbedding : model.tgtEmbedding;
  const name = shared ? 'src_embedding' : 'tgt_embedding';
  const scale = c.scaleEmbedding ? Math.sqrt(c.dModel) : 1;
  const positions = side === 'src' ? model.positionalEncoding : model.tgtPositionalEncoding;
  const positionsName = c.separatePositions ? `${side}_positional_encoding` : 'positional_encoding';
  const start = c.positionOffset > 0 ? ctx.g.node('Add', [past, ctx.g.ints([c.positionOffset])]) : past;
  const x = embed(ctx, ids, embedding, name, positions, positionsName, start, scale);
  const norm = side === 'src' ? model.srcEmbeddingNorm : model.tgtEmbeddingNorm;
  return norm === null ? x : layerNorm(ctx, x, norm, `${side}_embedding_norm`);
}
