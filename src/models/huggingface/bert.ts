// BERT (BertModel, BertForSequenceClassification) as an EncoderClassifier: word, position and token-type
// embeddings with their LayerNorm, post-LN layers, the pooler (tanh of a dense layer on the first token) and the
// classifier. HF's separate query/key/value become our packed in_proj (q, k, v stacked along rows).
import { EncoderClassifier } from '../classifier';
import { ConfigReader, HFConfig } from './config';
import { WeightMap, WeightRule } from './weights';

const ACTIVATIONS = { gelu: 'gelu', relu: 'relu' } as const;
/** Pre-training checkpoints (bert-base-uncased is a BertForMaskedLM) load as the encoder, without their heads. */
const ENCODER_ARCHITECTURES = ['BertModel', 'BertForMaskedLM', 'BertForPreTraining'];
const CLASSIFIER = 'BertForSequenceClassification';
const ARCHITECTURES = [...ENCODER_ARCHITECTURES, CLASSIFIER];

/** The BERT an HF config describes. `numLabels` puts a new classification head (initialised, not read) on an
 * encoder checkpoint, as HF's BertForSequenceClassification.from_pretrained(encoder, num_labels) does. */
export function bertFromConfig(op: string, hf: HFConfig, numLabels?: number): EncoderClassifier {
  const c = new ConfigReader(op, hf);
  const architecture = c.architecture('bert', ARCHITECTURES);
  if (numLabels !== undefined && architecture === CLASSIFIER && numLabels !== numLabelsOf(c))
    throw new RangeError(
      `${op}: numLabels ${numLabels} differs from the ${numLabelsOf(c)} labels of this ${CLASSIFIER} (its head would be dropped)`,
    );
  c.requireDefault('position_embedding_type', 'absolute');
  c.requireDefault('is_decoder', false);
  c.requireDefault('add_cross_attention', false);
  return new EncoderClassifier({
    vocabSize: c.int('vocab_size'),
    numClasses: architecture === CLASSIFIER ? numLabelsOf(c) : (numLabels ?? 0),
    dModel: c.int('hidden_size'),
    nhead: c.int('num_attention_heads'),
    numLayers: c.int('num_hidden_layers'),
    dimFeedforward: c.int('intermediate_size'),
    dropout: c.rate('hidden_dropout_prob', 0.1),
    maxLen: c.int('max_position_embeddings'),
    pooling: 'cls',
    padId: c.tokenId('pad_token_id') ?? 0,
    activation: c.choice('hidden_act', ACTIVATIONS, 'gelu'),
    normFirst: false,
    typeVocabSize: c.int('type_vocab_size', 2),
    layerNormEps: c.positive('layer_norm_eps', 1e-12),
  });
}

/** num_labels, or the size of id2label (HF writes the latter), or 2 (HF's default). */
function numLabelsOf(c: ConfigReader): number {
  if (c.config.num_labels !== undefined) return c.int('num_labels');
  const id2label = c.config.id2label;
  if (id2label !== undefined && id2label !== null && typeof id2label === 'object') return Object.keys(id2label).length;
  return 2;
}

/** The config.json of the model; `extra.id2label` (with label2id) names the labels when it has one per class. */
export function bertConfig(op: string, model: EncoderClassifier, extra: HFConfig = {}): HFConfig {
  const c = model.config;
  const unsupported = [
    c.normFirst ? 'normFirst true (BERT is post-LN)' : null,
    c.pooling !== 'cls' ? `pooling '${c.pooling}' (BERT pools the first token)` : null,
    c.typeVocabSize === 0 ? 'typeVocabSize 0 (BERT has token types)' : null,
  ].filter((s) => s !== null);
  if (unsupported.length > 0) throw new RangeError(`${op}: no BERT equivalent for ${unsupported.join(', ')}`);
  const given = extra.id2label as Record<string, unknown> | undefined;
  const named = given !== null && typeof given === 'object' && Object.keys(given).length === c.numClasses;
  const labels = Array.from({ length: c.numClasses }, (_, i) => (named ? String(given[i]) : `LABEL_${i}`));
  return {
    architectures: [c.numClasses > 0 ? CLASSIFIER : 'BertModel'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.dModel,
    num_attention_heads: c.nhead,
    num_hidden_layers: c.numLayers,
    intermediate_size: c.dimFeedforward,
    hidden_act: c.activation,
    hidden_dropout_prob: c.dropout,
    attention_probs_dropout_prob: c.dropout,
    max_position_embeddings: c.maxLen,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    pad_token_id: c.padId,
    position_embedding_type: 'absolute',
    initializer_range: 0.02,
    torch_dtype: 'float32',
    ...(c.numClasses > 0
      ? {
          id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
          label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
        }
      : {}),
  };
}

/** A Linear or LayerNorm: weight and bias. Old files name LayerNorm parameters gamma and beta. */
function pair(ours: string, hf: string, base = true): WeightRule[] {
  const legacy = hf.endsWith('LayerNorm');
  return [
    { ours: `${ours}.weight`, hf: [`${hf}.weight`], base, ...(legacy ? { alternatives: [`${hf}.gamma`] } : {}) },
    { ours: `${ours}.bias`, hf: [`${hf}.bias`], base, ...(legacy ? { alternatives: [`${hf}.beta`] } : {}) },
  ];
}

/** `newHead`: the classifier is not in the file (it keeps its initial weights). */
export function bertWeights(model: EncoderClassifier, newHead = false): WeightMap {
  const rules: WeightRule[] = [
    { ours: 'token_embedding.weight', hf: ['embeddings.word_embeddings.weight'], base: true },
    { ours: 'position_embedding.weight', hf: ['embeddings.position_embeddings.weight'], base: true },
    { ours: 'token_type_embedding.weight', hf: ['embeddings.token_type_embeddings.weight'], base: true },
    ...pair('embedding_norm', 'embeddings.LayerNorm'),
  ];
  for (let i = 0; i < model.config.numLayers; i++) {
    const ours = `encoder.layers.${i}`;
    const hf = `encoder.layer.${i}`;
    const qkv = (what: string) => ['query', 'key', 'value'].map((p) => `${hf}.attention.self.${p}.${what}`);
    rules.push(
      { ours: `${ours}.self_attn.in_proj_weight`, hf: qkv('weight'), base: true },
      { ours: `${ours}.self_attn.in_proj_bias`, hf: qkv('bias'), base: true },
      ...pair(`${ours}.self_attn.out_proj`, `${hf}.attention.output.dense`),
      ...pair(`${ours}.norm1`, `${hf}.attention.output.LayerNorm`),
      ...pair(`${ours}.linear1`, `${hf}.intermediate.dense`),
      ...pair(`${ours}.linear2`, `${hf}.output.dense`),
      ...pair(`${ours}.norm2`, `${hf}.output.LayerNorm`),
    );
  }
  rules.push(...pair('pooler', 'pooler.dense'));
  if (model.config.numClasses > 0)
    rules.push(...pair('classifier', 'classifier', false).map((r) => ({ ...r, optional: newHead })));
  // Old files hold the position_ids buffer; pre-training files their heads (cls.*), which the encoder does not use.
  const ignored = (name: string) =>
    name === 'embeddings.position_ids' || ((model.config.numClasses === 0 || newHead) && name.startsWith('cls.'));
  return { prefix: 'bert.', savePrefix: model.config.numClasses > 0 ? 'bert.' : '', rules, ignored };
}
