// BERT's pieces of HF's format: the WordPiece model (greedy longest match, "##" for word-inner pieces) and the
// WordPiece decoder.
import { Model } from './bpe-model';
import { booleanAt, idAt, JSONObject, objectAt, stringAt, TokenizerFileError } from './schema';

export class WordPieceModel implements Model {
  readonly vocab = new Map<string, number>();
  readonly unkToken: string;
  private readonly unkId: number;
  private readonly prefix: string;
  private readonly maxChars: number;

  constructor(json: JSONObject) {
    const field = 'model';
    const vocabJSON = objectAt(json.vocab, 'model.vocab');
    for (const token of Object.keys(vocabJSON)) this.vocab.set(token, idAt(vocabJSON, token, 'model.vocab'));
    this.unkToken = stringAt(json, 'unk_token', field);
    const unkId = this.vocab.get(this.unkToken);
    if (unkId === undefined)
      throw new TokenizerFileError(`field "model.unk_token" names ${JSON.stringify(this.unkToken)}, not in the vocab`);
    this.unkId = unkId;
    this.prefix =
      json.continuing_subword_prefix === undefined ? '##' : stringAt(json, 'continuing_subword_prefix', field);
    this.maxChars = json.max_input_chars_per_word === undefined ? 100 : idAt(json, 'max_input_chars_per_word', field);
  }

  tokenize(word: string, spans?: number[]): number[] {
    const chars = Array.from(word);
    const unknown = () => {
      spans?.push(0, word.length);
      return [this.unkId];
    };
    if (chars.length > this.maxChars) return unknown();
    const out: number[] = [];
    const found: number[] = [];
    let start = 0;
    let unitStart = 0;
    while (start < chars.length) {
      let id: number | undefined;
      let end = chars.length;
      for (; end > start; end--) {
        id = this.vocab.get((start > 0 ? this.prefix : '') + chars.slice(start, end).join(''));
        if (id !== undefined) break;
      }
      if (id === undefined) return unknown();
      out.push(id);
      const unitEnd = unitStart + chars.slice(start, end).join('').length;
      found.push(unitStart, unitEnd);
      unitStart = unitEnd;
      start = end;
    }
    for (const x of found) spans?.push(x);
    return out;
  }
}

const CLEANUPS: Array<[string, string]> = [
  [' .', '.'],
  [' ?', '?'],
  [' !', '!'],
  [' ,', ','],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [' do not', " don't"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

/** HF's cleanup of decoded text: no space before punctuation and inside contractions. */
export function cleanup(s: string): string {
  for (const [from, to] of CLEANUPS) s = s.split(from).join(to);
  return s;
}

/** HF's WordPiece decoder step: word-inner pieces lose their prefix, others get a space before them. */
export function wordPieceDecoder(json: JSONObject, field: string): (tokens: string[]) => string[] {
  const prefix = json.prefix === undefined ? '##' : stringAt(json, 'prefix', field);
  const clean = booleanAt(json, 'cleanup', field, true);
  return (tokens) =>
    tokens.map((token, i) => {
      if (i > 0) token = prefix && token.startsWith(prefix) ? token.slice(prefix.length) : ' ' + token;
      return clean ? cleanup(token) : token;
    });
}
