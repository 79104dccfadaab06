// HF's ByteLevel decoder: from GPT-2's printable stand-ins back to bytes, then lossy UTF-8.
import { CHAR_TO_BYTE } from '../bpe';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // keep a leading U+FEFF, as Rust does

/** Tokens back to text: byte stand-ins become bytes (a token with any other character keeps its own UTF-8
 * bytes), and the bytes are read as UTF-8 with U+FFFD for invalid sequences. */
export function byteLevelDecode(tokens: string[]): string {
  const bytes: number[] = [];
  for (const token of tokens) {
    const start = bytes.length;
    let mapped = true;
    for (const c of token) {
      const b = CHAR_TO_BYTE.get(c);
      if (b === undefined) {
        mapped = false;
        break;
      }
      bytes.push(b);
    }
    if (!mapped) {
      bytes.length = start;
      for (const b of utf8Encoder.encode(token)) bytes.push(b);
    }
  }
  return utf8Decoder.decode(Uint8Array.from(bytes));
}
