// HF's WordLevel model: each pre-tokenized word is one token, or the unk token when the vocabulary lacks it.
import { Model } from './bpe-model';
import { idAt, JSONObject, objectAt, stringAt } from './schema';

export class WordLevelModel implements Model {
  readonly vocab = new Map<string, number>();
  readonly unkToken: string;
  private readonly unkId: number | undefined;

  constructor(json: JSONObject) {
    const vocabJSON = objectAt(json.vocab, 'model.vocab');
    for (const token of Object.keys(vocabJSON)) this.vocab.set(token, idAt(vocabJSON, token, 'model.vocab'));
    this.unkToken = stringAt(json, 'unk_token', 'model');
    this.unkId = this.vocab.get(this.unkToken);
  }

  tokenize(word: string, spans?: number[]): number[] {
    const id = this.vocab.get(word) ?? this.unkId;
    // HF fails the encoding when a word is unknown and the unk token is not in the vocabulary.
    if (id === undefined)
      throw new Error(`WordLevel: ${JSON.stringify(word)} is unknown and the unk token is not in the vocab`);
    spans?.push(0, word.length);
    return [id];
  }
}
