// Levenshtein distance, shared by the G2P metrics (phoneme sequences) and the CLI's "did you mean" suggestions
// (strings).

/** The Levenshtein distance between two sequences (unit costs for insertion, deletion and substitution):
 * strings compare by UTF-16 code unit, arrays by element (===). One row of the table is kept. */
export function editDistance<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  const isSequence = (s: unknown) => typeof s === 'string' || Array.isArray(s) || ArrayBuffer.isView(s);
  if (!isSequence(a) || !isSequence(b))
    throw new TypeError('editDistance: both arguments must be strings or arrays of tokens');
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}
