// The README's first demo (`npm run demo`) runs as documented: it trains in seconds and continues each prompt
// with the word its subject goes with, which no bigram or trigram model of the sentences can do.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');

test('the demo sentences: after "the", "on the", "sat on the" and "slept on the", mat and rug are tied', () => {
  // Counts of the word after each context, within sentences (lower-cased words, punctuation dropped).
  const sentences = fs
    .readFileSync(path.join(root, 'examples', 'demo', 'sentences.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const words = sentences.map((s) => s.toLowerCase().match(/[a-z]+/g) ?? []);
  const next = (context: string) => {
    const n = context.split(' ').length;
    const counts: Record<string, number> = {};
    for (const w of words)
      for (let i = n; i < w.length; i++)
        if (w.slice(i - n, i).join(' ') === context) counts[w[i]] = (counts[w[i]] ?? 0) + 1;
    return counts;
  };
  for (const context of ['the', 'on the', 'sat on the', 'slept on the']) {
    const counts = next(context);
    const most = Math.max(...Object.values(counts));
    expect([context, counts.mat, counts.rug]).toEqual([context, most, most]);
  }
  expect(next('cat sat on the')).toEqual({ mat: 2 });
  expect(next('dog slept on the')).toEqual({ rug: 2 });
});

test('npm run demo: "The cat sat on the" continues with "mat", "The dog slept on the" with "rug"', () => {
  const result = spawnSync(process.execPath, [path.join(root, 'examples', 'demo', 'demo.js')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60000,
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/"The cat sat on the" -> "The cat sat on the mat\b/);
  expect(result.stdout).toMatch(/"The dog slept on the" -> "The dog slept on the rug\b/);
}, 70000);
