// TokenText: token-by-token text for streams; multi-byte characters split over tokens, stop strings that end
// the text before them, and text held back while it may still become one.
import { TokenText } from '../../src/serve/text';
import type { StreamChunk } from '../../src/serve/types';

/** Tokens are bytes: decode as UTF-8, as a byte-level BPE does. */
const utf8 = new TextDecoder();
const decodeBytes = (ids: number[]) => utf8.decode(Uint8Array.from(ids));
const bytes = (s: string) => [...new TextEncoder().encode(s)];

/** Tokens are indices into a list of strings. */
function vocabulary(...pieces: string[]): (ids: number[]) => string {
  return (ids) => ids.map((i) => pieces[i]).join('');
}

/** Pushes every token, then finish() unless a stop string ended the text; returns what the stream saw. */
function run(text: TokenText, tokens: number[]): { chunks: StreamChunk[]; stopped: boolean; pushes: number } {
  const chunks: StreamChunk[] = [];
  let pushes = 0;
  for (const token of tokens) {
    const out = text.push(token);
    pushes++;
    chunks.push(...out.chunks);
    if (out.stopped) return { chunks, stopped: true, pushes };
  }
  chunks.push(...text.finish());
  return { chunks, stopped: false, pushes };
}

test('without stop strings every token gets its text at once', () => {
  const text = new TokenText(decodeBytes);
  expect(text.push(104)).toEqual({ chunks: [{ token: 104, text: 'h' }], stopped: false });
  expect(text.push(105)).toEqual({ chunks: [{ token: 105, text: 'i' }], stopped: false });
  expect(text.finish()).toEqual([]);
  expect(text.text).toBe('hi');
  expect(text.tokens).toEqual([104, 105]);
  expect(() => text.push(33)).toThrow(/the sequence has ended/);
});

test('a character split over tokens comes out whole, with the token that completes it', () => {
  const text = new TokenText(decodeBytes);
  const [b1, b2, b3] = bytes('日');
  // The token that leaves a character unfinished waits (its bytes may end the sequence as U+FFFD).
  expect(text.push(b1).chunks).toEqual([]);
  expect(text.push(b2).chunks).toEqual([{ token: b1, text: '' }]);
  expect(text.push(b3).chunks).toEqual([
    { token: b2, text: '' },
    { token: b3, text: '日' },
  ]);
  const all = run(new TokenText(decodeBytes), bytes('café 日本語!'));
  expect(all.chunks.map((c) => c.text).join('')).toBe('café 日本語!');
  expect(all.chunks.map((c) => c.token)).toEqual(bytes('café 日本語!'));
  expect(all.chunks.some((c) => c.text.includes('\uFFFD'))).toBe(false);
});

test('an unfinished character at the end comes out as decoding gives it', () => {
  const [b1] = bytes('é');
  const ended = run(new TokenText(decodeBytes), [...bytes('ok'), b1]);
  expect(ended.chunks).toEqual([
    { token: 111, text: 'o' },
    { token: 107, text: 'k' },
    { token: b1, text: '\uFFFD' },
  ]);
  // An invalid byte in the middle is a U+FFFD of its own, given out once the next character settles it.
  const middle = run(new TokenText(decodeBytes), [97, 0xff, 98]);
  expect(middle.chunks.map((c) => c.text).join('')).toBe('a\uFFFDb');
});

test('a stop string ends the text before it; its tokens are not given out', () => {
  const text = new TokenText(decodeBytes, ['\n\n']);
  const out = run(text, bytes('ab\n\ncd'));
  expect(out.stopped).toBe(true);
  expect(out.pushes).toBe(4);
  expect(out.chunks).toEqual([
    { token: 97, text: 'a' },
    { token: 98, text: 'b' },
  ]);
  expect(text.text).toBe('ab');
  expect(text.tokens).toEqual([97, 98]);
  expect(text.finish()).toEqual([]);
});

test('text that may begin a stop string waits until it cannot', () => {
  const text = new TokenText(decodeBytes, ['xyz']);
  expect(text.push(97).chunks).toEqual([{ token: 97, text: 'a' }]);
  expect(text.push(120).chunks).toEqual([]);
  expect(text.push(121).chunks).toEqual([]);
  expect(text.push(98).chunks).toEqual([
    { token: 120, text: 'x' },
    { token: 121, text: 'y' },
    { token: 98, text: 'b' },
  ]);
  // Held text is given out when the sequence ends without the stop string.
  const held = new TokenText(decodeBytes, ['end']);
  expect(run(held, bytes('the e')).chunks.map((c) => c.text)).toEqual(['t', 'h', 'e', ' ', 'e']);
});

test('a stop string inside a token cuts that token’s text; the earliest of several stops wins', () => {
  const decode = vocabulary('he', 'llo wo', 'rld');
  const text = new TokenText(decode, ['rld', 'o w']);
  const out = run(text, [0, 1, 2]);
  expect(out).toEqual({
    chunks: [
      { token: 0, text: 'he' },
      { token: 1, text: 'll' },
    ],
    stopped: true,
    pushes: 2,
  });
  // A stop string spread over tokens, starting inside a token already partly given out.
  const spread = new TokenText(vocabulary('ab', 'cd', 'ef'), ['de']);
  expect(run(spread, [0, 1, 2]).chunks).toEqual([
    { token: 0, text: 'ab' },
    { token: 1, text: 'c' },
  ]);
  // A stop string at the very start leaves no text and no tokens.
  const first = new TokenText(decodeBytes, ['a']);
  expect(run(first, bytes('abc'))).toEqual({ chunks: [], stopped: true, pushes: 1 });
  expect(first.tokens).toEqual([]);
});

test('the chunks always add up to the released text', () => {
  const stops = ['日本', 'at.', 'zz'];
  const sample = bytes('the cat sat on the mat. 日本語');
  for (let cut = 1; cut <= sample.length; cut++) {
    const text = new TokenText(decodeBytes, stops);
    const out = run(text, sample.slice(0, cut));
    expect(out.chunks.map((c) => c.text).join('')).toBe(text.text);
    expect(out.chunks.map((c) => c.token)).toEqual(text.tokens);
    const whole = decodeBytes(sample.slice(0, cut));
    const at = Math.min(...stops.map((s) => whole.indexOf(s)).filter((i) => i >= 0));
    expect(text.text).toBe(Number.isFinite(at) ? whole.slice(0, at) : whole);
  }
});
