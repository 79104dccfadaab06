// Small models and data for the training tests: a dropout language model built from nn modules, and a token
// stream with structure to learn.
import { LanguageModelDataLoader } from '../../src/data/dataloader';
import * as F from '../../src/functional';
import { Dropout, Embedding, LayerNorm, Linear } from '../../src/nn/layers';
import { Module } from '../../src/nn/module';
import { Tensor } from '../../src/tensor';
import { rng } from '../helpers';

/** Embedding -> dropout -> tanh MLP -> LayerNorm -> vocabulary logits, position-wise: a bigram model. */
export class TinyLM extends Module {
  readonly embed: Embedding;
  readonly hidden: Linear;
  readonly norm: LayerNorm;
  readonly head: Linear;
  readonly drop: Dropout;
  readonly config: { type: string; vocabSize: number; dModel: number };

  constructor(vocabSize: number, dModel = 16, dropout = 0.1) {
    super();
    this.config = { type: 'TinyLM', vocabSize, dModel };
    this.embed = this.registerModule('embed', new Embedding(vocabSize, dModel));
    this.drop = this.registerModule('drop', new Dropout(dropout));
    this.hidden = this.registerModule('hidden', new Linear(dModel, dModel));
    this.norm = this.registerModule('norm', new LayerNorm(dModel));
    this.head = this.registerModule('head', new Linear(dModel, vocabSize));
  }

  override forward(ids: Tensor): Tensor {
    const x = this.drop.forward(this.embed.forward(ids));
    return this.head.forward(this.norm.forward(F.tanh(this.hidden.forward(x))));
  }
}

/** A stream of token ids following a noisy cycle (ids 4..vocab-1), so a bigram model can learn it. */
export function cyclicStream(length: number, vocabSize: number, seed = 1): number[] {
  const random = rng(seed);
  const out: number[] = [];
  let id = 4;
  for (let i = 0; i < length; i++) {
    out.push(id);
    id = random() < 0.9 ? 4 + ((id - 4 + 1) % (vocabSize - 4)) : 4 + Math.floor(random() * (vocabSize - 4));
  }
  return out;
}

export function lmLoader(
  stream: number[],
  options: { shuffle?: boolean; batchSize?: number; blockSize?: number } = {},
): LanguageModelDataLoader {
  return new LanguageModelDataLoader(stream, {
    blockSize: options.blockSize ?? 8,
    batchSize: options.batchSize ?? 4,
    shuffle: options.shuffle ?? true,
    seed: 3,
  });
}
