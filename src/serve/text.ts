// Generated tokens to text, token by token, for streams that must never show text they later take back. Each
// token gets the text it adds to the decoded sequence (decoding the whole sequence, so a character that a
// byte-level BPE splits over several tokens comes out whole, with the token that completes it). A token's
// chunk is held back while the text so far ends in an unfinished character or in the beginning of a stop
// string, and released once that is settled; when a stop string appears, the text ends just before it.
import type { StreamChunk } from './types';

/** U+FFFD, what decoding makes of an unfinished UTF-8 sequence at the end of the bytes. */
const REPLACEMENT = '\uFFFD';

interface Pending extends StreamChunk {
  /** Where the chunk's text starts in the decoded text. */
  start: number;
}

export class TokenText {
  private readonly ids: number[] = [];
  private readonly pending: Pending[] = [];
  /** Length of the decoded text without a trailing unfinished character: the part given to chunks so far. */
  private settled = 0;
  private readonly releasedTokens: number[] = [];
  private releasedText = '';
  private ended = false;

  /** decode: the tokenizer's decode of a whole sequence; stops: strings that end the text before them. */
  constructor(
    private readonly decode: (ids: number[]) => string,
    private readonly stops: readonly string[] = [],
  ) {}

  /** The text released so far (all of it once the sequence ended). */
  get text(): string {
    return this.releasedText;
  }

  /** The tokens of the released chunks: with a stop string, those whose text starts before it. */
  get tokens(): number[] {
    return [...this.releasedTokens];
  }

  /** Takes the next token. Returns the chunks now final, in order, and whether a stop string ended the text
   * (then the sequence is over: later tokens are not taken). */
  push(token: number): { chunks: StreamChunk[]; stopped: boolean } {
    if (this.ended) throw new Error('TokenText: the sequence has ended');
    this.ids.push(token);
    const full = this.decode(this.ids);
    const clean = withoutUnfinished(full);
    // A decode that rewrites earlier text (it should not) keeps what was already given out.
    const start = Math.min(this.settled, clean.length);
    this.pending.push({ token, text: clean.slice(start), start });
    this.settled = Math.max(this.settled, clean.length);

    const stopAt = this.firstStop(clean);
    if (stopAt >= 0) {
      this.ended = true;
      const chunks = this.pending
        .filter((c) => c.start < stopAt)
        .map((c) => ({ token: c.token, text: c.text.slice(0, stopAt - c.start) }));
      this.pending.length = 0;
      return { chunks: this.release(chunks), stopped: true };
    }
    // Text that may still become a stop string waits, and so does the last chunk while its character is
    // unfinished (its bytes may complete it, or end the sequence as U+FFFD).
    const safeEnd = clean.length - this.stopPrefixLength(clean);
    const unfinished = clean.length < full.length;
    let n = 0;
    while (
      n < this.pending.length &&
      this.pending[n].start + this.pending[n].text.length <= safeEnd &&
      !(unfinished && n === this.pending.length - 1)
    )
      n++;
    return { chunks: this.release(this.pending.splice(0, n)), stopped: false };
  }

  /** The sequence ended without a stop string (its length limit, or the end token): releases the chunks held
   * back, the last one with whatever unfinished character is left, as decoding gives it. */
  finish(): StreamChunk[] {
    if (this.ended) return [];
    this.ended = true;
    const chunks = this.pending.splice(0, this.pending.length);
    if (chunks.length > 0) {
      const full = this.decode(this.ids);
      chunks[chunks.length - 1].text += full.slice(this.settled);
    }
    return this.release(chunks);
  }

  private release(chunks: Array<StreamChunk & { start?: number }>): StreamChunk[] {
    const out = chunks.map((c) => ({ token: c.token, text: c.text }));
    for (const c of out) {
      this.releasedTokens.push(c.token);
      this.releasedText += c.text;
    }
    return out;
  }

  /** Where the first stop string begins in text, or -1. Released text holds none and ends in none's
   * beginning, so the search starts where it ends. */
  private firstStop(text: string): number {
    let first = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop, this.releasedText.length);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    return first;
  }

  /** Length of the longest end of text (after the released part) that some stop string begins with. */
  private stopPrefixLength(text: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, text.length - this.releasedText.length); n > longest; n--) {
        if (text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}

/** text without the U+FFFD run at its end, where decoding leaves an unfinished UTF-8 sequence. */
function withoutUnfinished(text: string): string {
  let end = text.length;
  while (end > 0 && text[end - 1] === REPLACEMENT) end--;
  return text.slice(0, end);
}
