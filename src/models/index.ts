// Ready-made Transformer models, each built from a plain JSON-serialisable config (`model.config`), and the
// factory that rebuilds one from its saved config.
import { EncoderClassifier, EncoderClassifierConfig, EncoderClassifierOptions } from './classifier';
import { TiedLinear } from './common';
import { checkConfigObject } from './config';
import { GPT, GPTConfig, GPTOptions } from './gpt';
import { Seq2SeqTransformer, Seq2SeqTransformerConfig, Seq2SeqTransformerOptions } from './seq2seq';

export { EncoderClassifier, GPT, Seq2SeqTransformer, TiedLinear };
export type {
  EncoderClassifierConfig,
  EncoderClassifierOptions,
  GPTConfig,
  GPTOptions,
  Seq2SeqTransformerConfig,
  Seq2SeqTransformerOptions,
};
export type { EncoderClassifierForwardOptions } from './classifier';
export type { GPTForwardOptions } from './gpt';
export type { Seq2SeqDecodeOptions, Seq2SeqForwardOptions } from './seq2seq';

/** A config as accepted by modelFromConfig: the model's options with its `type`. */
export type ModelConfig =
  | (Seq2SeqTransformerOptions & { type: 'Seq2SeqTransformer' })
  | (GPTOptions & { type: 'GPT' })
  | (EncoderClassifierOptions & { type: 'EncoderClassifier' });

export type Model = Seq2SeqTransformer | GPT | EncoderClassifier;

export const MODEL_TYPES = ['Seq2SeqTransformer', 'GPT', 'EncoderClassifier'] as const;

/** Builds the model a config describes (e.g. the `config` of a saved model), keyed by its `type`. */
export function modelFromConfig(config: Seq2SeqTransformerOptions & { type: 'Seq2SeqTransformer' }): Seq2SeqTransformer;
export function modelFromConfig(config: GPTOptions & { type: 'GPT' }): GPT;
export function modelFromConfig(config: EncoderClassifierOptions & { type: 'EncoderClassifier' }): EncoderClassifier;
export function modelFromConfig(config: ModelConfig): Model;
export function modelFromConfig(config: ModelConfig): Model {
  const o = checkConfigObject('modelFromConfig', config);
  switch (o.type) {
    case 'Seq2SeqTransformer':
      return new Seq2SeqTransformer(config as Seq2SeqTransformerOptions);
    case 'GPT':
      return new GPT(config as GPTOptions);
    case 'EncoderClassifier':
      return new EncoderClassifier(config as EncoderClassifierOptions);
    default:
      throw new RangeError(
        `modelFromConfig: unknown model type ${o.type === undefined ? '(missing)' : `'${String(o.type)}'`}; expected one of ${MODEL_TYPES.map((t) => `'${t}'`).join(', ')}`,
      );
  }
}

export { fromHuggingFace, isHuggingFaceFolder, saveHuggingFace } from './huggingface';
export type {
  FromHuggingFaceOptions,
  HFConfig,
  HuggingFaceContent,
  HuggingFaceModel,
  SaveHuggingFaceOptions,
} from './huggingface';
