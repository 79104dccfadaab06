// Text being normalized and split, with where each of its UTF-16 code units came from in the input: the
// bookkeeping behind offsets. It follows Hugging Face's NormalizedString, so that offsets come out as HF's do:
// each code unit of the current text is aligned to a range of the original text, and an edit is described
// as the new characters, each with how it relates to the old ones (see transform()).

/** How a split keeps the matched delimiters (HF's SplitDelimiterBehavior). */
export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

/** A range [start, end) of a string and whether it is a match of the pattern that made it. */
export type Match = [start: number, end: number, isMatch: boolean];

/** One character of an edit and its change: 0 replaces the next old character, 1 is inserted, -N replaces the
 * next old character and removes the N after it. */
export type Edit = [char: string, change: number];

export class NormalizedText {
  /** text: the current text; starts/ends: per code unit of text, its original range (null when the caller does
   * not need offsets, which skips the bookkeeping); originalStart: where this text starts in the original. */
  constructor(
    readonly text: string,
    readonly starts: Int32Array | null,
    readonly ends: Int32Array | null,
    readonly originalStart: number,
  ) {}

  /** text as found at offset `at` of the input; tracked: whether to keep alignments. */
  static of(text: string, at: number, tracked: boolean): NormalizedText {
    if (!tracked) return new NormalizedText(text, null, null, at);
    const starts = new Int32Array(text.length);
    const ends = new Int32Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      const pair =
        unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      starts[i] = at + i;
      ends[i] = at + i + (pair ? 2 : 1);
      if (pair) {
        starts[i + 1] = at + i;
        ends[i + 1] = at + i + 2;
        i++;
      }
    }
    return new NormalizedText(text, starts, ends, at);
  }

  get length(): number {
    return this.text.length;
  }

  /** The original range of code units [start, end) of the current text (HF's convert_offsets). */
  originalRange(start: number, end: number): [number, number] {
    if (this.starts === null || this.ends === null) return [0, 0];
    if (start === end) return [this.originalStart + start, this.originalStart + start];
    return [this.starts[start], this.ends[end - 1]];
  }

  /** Appends originalRange(start, end) to out (without the pair array, on the hot path of offsets). */
  pushOriginalRange(out: number[], start: number, end: number): void {
    if (this.starts === null || this.ends === null || start === end) out.push(...this.originalRange(start, end));
    else out.push(this.starts[start], this.ends[end - 1]);
  }

  /** The part [start, end) of the current text, keeping its alignments. */
  slice(start: number, end: number): NormalizedText {
    const text = this.text.slice(start, end);
    // Untracked, only a slice from the start is known to start where this text does.
    if (this.starts === null || this.ends === null)
      return new NormalizedText(text, null, null, start === 0 ? this.originalStart : -1);
    const origin = end > start ? this.starts[start] : this.originalStart;
    return new NormalizedText(text, this.starts.slice(start, end), this.ends.slice(start, end), origin);
  }

  /** Rewrites the text from position `from` on as `edits` describe (HF's transform_range over that tail);
   * initialRemoved old characters at `from` are dropped first. A new character takes the alignment of the old
   * code unit before it; a replacing one that of the old character it replaces. */
  transform(edits: Iterable<Edit>, initialRemoved = 0, from = 0): NormalizedText {
    const old = this.text;
    let offset = from;
    for (let k = 0; k < initialRemoved; k++) offset += charWidth(old, offset);
    let text = old.slice(0, from);
    const tracked = this.starts !== null && this.ends !== null;
    const starts: number[] = [];
    const ends: number[] = [];
    for (const [c, change] of edits) {
      let s = 0;
      let e = 0;
      if (tracked) {
        const source = change > 0 ? offset - 1 : offset;
        if (source < 0) s = e = this.originalStart;
        else [s, e] = [(this.starts as Int32Array)[source], (this.ends as Int32Array)[source]];
      }
      if (change <= 0) offset += charWidth(old, offset);
      for (let k = 0; k < -change; k++) offset += charWidth(old, offset);
      text += c;
      if (tracked)
        for (let k = 0; k < c.length; k++) {
          starts.push(s);
          ends.push(e);
        }
    }
    if (!tracked) return new NormalizedText(text, null, null, this.originalStart);
    const head = (this.starts as Int32Array).subarray(0, from);
    const headEnds = (this.ends as Int32Array).subarray(0, from);
    const allStarts = new Int32Array(from + starts.length);
    const allEnds = new Int32Array(from + ends.length);
    allStarts.set(head);
    allEnds.set(headEnds);
    allStarts.set(starts, from);
    allEnds.set(ends, from);
    return new NormalizedText(text, allStarts, allEnds, this.originalStart);
  }

  /** Each character replaced by what f returns for it: the first new character replaces it, the others are
   * inserted after it, and an empty result removes it (HF's map/filter/lowercase combined). */
  mapChars(f: (c: string) => string): NormalizedText {
    const edits: Edit[] = [];
    let leadingRemoved = 0;
    for (const c of this.text) {
      const out = f(c);
      if (out.length === 0) {
        if (edits.length === 0) leadingRemoved++;
        else edits[edits.length - 1][1]--;
        continue;
      }
      let first = true;
      for (const d of out) {
        edits.push([d, first ? 0 : 1]);
        first = false;
      }
    }
    return this.transform(edits, leadingRemoved);
  }

  /** Every match of pattern replaced by content; the new characters take the alignment of the match's last
   * code unit (HF's NormalizedString.replace). One pass, so replacing every space of a long text stays linear. */
  replace(matches: Match[], content: string): NormalizedText {
    if (!matches.some((m) => m[2])) return this;
    const parts: string[] = [];
    const tracked = this.starts !== null && this.ends !== null;
    const starts: number[] = [];
    const ends: number[] = [];
    const copy = (from: number, to: number) => {
      parts.push(this.text.slice(from, to));
      if (tracked)
        for (let i = from; i < to; i++) {
          starts.push((this.starts as Int32Array)[i]);
          ends.push((this.ends as Int32Array)[i]);
        }
    };
    let last = 0;
    for (const [start, end, isMatch] of matches) {
      if (!isMatch) continue;
      copy(last, start);
      parts.push(content);
      if (tracked) {
        const [s, e] =
          end > 0
            ? [(this.starts as Int32Array)[end - 1], (this.ends as Int32Array)[end - 1]]
            : [this.originalStart, this.originalStart];
        for (let k = 0; k < content.length; k++) {
          starts.push(s);
          ends.push(e);
        }
      }
      last = end;
    }
    copy(last, this.text.length);
    const text = parts.join('');
    if (!tracked) return new NormalizedText(text, null, null, this.originalStart);
    return new NormalizedText(text, Int32Array.from(starts), Int32Array.from(ends), this.originalStart);
  }

  /** The text split around matches as behavior says; empty pieces are dropped (HF's split). */
  split(matches: Match[], behavior: SplitBehavior): NormalizedText[] {
    const kept = applyBehavior(matches, behavior);
    const out: NormalizedText[] = [];
    for (const [start, end, remove] of kept) if (!remove && end > start) out.push(this.slice(start, end));
    return out;
  }
}

/** The code units of the character at i (0 past the end). */
export function charWidth(s: string, i: number): number {
  if (i >= s.length) return 0;
  return (s.codePointAt(i) as number) > 0xffff ? 2 : 1;
}

/** Ranges to keep or remove ([start, end, remove]) from the matches, per behavior. */
function applyBehavior(matches: Match[], behavior: SplitBehavior): Match[] {
  switch (behavior) {
    case 'Removed':
      return matches;
    case 'Isolated':
      return matches.map(([s, e]) => [s, e, false]);
    case 'Contiguous':
    case 'MergedWithPrevious': {
      const out: Match[] = [];
      let previous = false;
      for (const [s, e, isMatch] of matches) {
        const join = behavior === 'Contiguous' ? isMatch === previous : isMatch && !previous;
        if (join && out.length > 0) out[out.length - 1][1] = e;
        else out.push([s, e, false]);
        previous = isMatch;
      }
      return out;
    }
    case 'MergedWithNext': {
      const out: Match[] = [];
      let previous = false;
      for (let k = matches.length - 1; k >= 0; k--) {
        const [s, e, isMatch] = matches[k];
        if (isMatch && !previous && out.length > 0) out[out.length - 1][0] = s;
        else out.push([s, e, false]);
        previous = isMatch;
      }
      return out.reverse();
    }
  }
}

/** The ranges of text matched by a global regex, and the ranges between them (HF's find_matches). */
export function regexMatches(text: string, pattern: RegExp): Match[] {
  if (text.length === 0) return [[0, 0, false]];
  const out: Match[] = [];
  let previous = 0;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      pattern.lastIndex = start + Math.max(1, charWidth(text, start));
      if (start >= text.length) break;
    }
    if (previous !== start) out.push([previous, start, false]);
    out.push([start, end, true]);
    previous = end;
  }
  if (previous !== text.length) out.push([previous, text.length, false]);
  return out;
}

/** The ranges of text made of characters for which test holds (each alone) and those between (HF's split on a
 * char predicate). */
export function charMatches(text: string, test: (c: string) => boolean): Match[] {
  if (text.length === 0) return [[0, 0, false]];
  const out: Match[] = [];
  let last = 0;
  for (let i = 0; i < text.length;) {
    const w = charWidth(text, i);
    if (test(text.slice(i, i + w))) {
      if (last < i) out.push([last, i, false]);
      out.push([i, i + w, true]);
      last = i + w;
    }
    i += w;
  }
  if (last < text.length) out.push([last, text.length, false]);
  return out;
}

/** The same ranges with match and non-match swapped (HF's Invert). */
export function invertMatches(matches: Match[]): Match[] {
  return matches.map(([s, e, m]) => [s, e, !m]);
}
