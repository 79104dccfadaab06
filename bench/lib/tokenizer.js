'use strict';
// The tokenizer rows: encode throughput (MB of UTF-8 text per second, one thread) of this library's
// HuggingFaceTokenizer against Hugging Face's own Rust implementation (npm @anush008/tokenizers, the
// hf-tokenizers peer, bench/peers/hf-tokenizers.js), on the same corpus (Brown sentences, prepared by the lm
// example) and the same byte-level BPE tokenizer.json (GPT-2's pre-tokenizer, trained by HF's library on them).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');
const SPEC = { kind: 'tokenizerEncode', sentences: 20000 };

/** Where the fixture of `spec` lives: one folder per size under the system's temporary folder, made once and
 * shared by our side and the peer's process (both must read the same tokenizer.json). */
function fixtureDir(spec) {
  return path.join(os.tmpdir(), `tn-bench-tokenizer-${spec.sentences}`);
}

/** Prepares the corpus and trains the tokenizer.json into a new folder, then moves it into place. */
function makeFixture(spec, dir) {
  const hf = require('@anush008/tokenizers');
  const work = fs.mkdtempSync(`${dir}-tmp-`);
  execFileSync(process.execPath, [path.join(ROOT, 'examples', 'lm', 'prepare-brown.js'), work], { stdio: 'ignore' });
  const lines = fs.readFileSync(path.join(work, 'train.txt'), 'utf8').split('\n').slice(0, spec.sentences);
  fs.writeFileSync(path.join(work, 'corpus.txt'), lines.join('\n'));
  const trained = new hf.Tokenizer(hf.BPE.empty());
  trained.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  trained.train([path.join(work, 'corpus.txt')]);
  const file = path.join(work, 'tokenizer.json');
  trained.save(file);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  json.decoder = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  fs.writeFileSync(file, JSON.stringify(json));
  try {
    fs.renameSync(work, dir);
  } catch {
    fs.rmSync(work, { recursive: true, force: true }); // another process made it first
  }
}

/** The corpus lines, their UTF-8 size and the tokenizer.json path. */
function tokenizerFixture(spec) {
  const dir = fixtureDir(spec);
  if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) makeFixture(spec, dir);
  const lines = fs.readFileSync(path.join(dir, 'corpus.txt'), 'utf8').split('\n');
  const bytes = lines.reduce((n, line) => n + Buffer.byteLength(line), 0);
  return { lines, bytes, file: path.join(dir, 'tokenizer.json') };
}

/** Two rows against the same peer: encode (ids), and encodeWithOffsets (ids and offsets: HF's encode always
 * computes offsets too). */
function tokenizerRows() {
  const row = (name, offsets) => {
    const r = {
      name,
      shape: `Brown ${SPEC.sentences} sentences, BPE trained on them by HF`,
      unit: 'MB/s',
      limit: null,
      // Bytes of text per call: known once the corpus is read (setup sets it).
      work: null,
      peers: ['hf-tokenizers'],
      spec: { ...SPEC, offsets },
      endToEnd: true,
      setup(addon, pkg, spec) {
        const { lines, bytes, file } = tokenizerFixture(spec);
        r.work = bytes;
        const tokenizer = pkg.loadTokenizer(file);
        const run = offsets
          ? () => lines.map((line) => tokenizer.encodeWithOffsets(line))
          : () => tokenizer.encodeBatch(lines);
        return { run, dispose: () => undefined };
      },
    };
    return r;
  };
  return [row('tokenizer encode byte-level BPE', false), row('tokenizer encodeWithOffsets byte-level BPE', true)];
}

module.exports = { tokenizerRows, tokenizerFixture };
