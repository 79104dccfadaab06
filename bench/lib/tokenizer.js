'use strict';
// The tokenizer row: encode throughput (MB of UTF-8 text per second, one thread) of this library's
// HuggingFaceTokenizer against Hugging Face's own Rust implementation (npm @anush008/tokenizers, run in this
// process), on the same corpus (Brown sentences, prepared by the lm example) and the same byte-level BPE
// tokenizer.json (GPT-2's pre-tokenizer, trained by HF's library on that corpus).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');
const SPEC = { kind: 'tokenizerEncode', sentences: 20000 };

let fixture = null;

/** The corpus lines, their UTF-8 size and the tokenizer.json path, made once per process in a temporary folder. */
function tokenizerFixture(spec) {
  if (fixture !== null) return fixture;
  const hf = require('@anush008/tokenizers');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-bench-tokenizer-'));
  execFileSync(process.execPath, [path.join(ROOT, 'examples', 'lm', 'prepare-brown.js'), dir], { stdio: 'ignore' });
  const lines = fs.readFileSync(path.join(dir, 'train.txt'), 'utf8').split('\n').slice(0, spec.sentences);
  const corpus = path.join(dir, 'corpus.txt');
  fs.writeFileSync(corpus, lines.join('\n'));
  const trained = new hf.Tokenizer(hf.BPE.empty());
  trained.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  trained.train([corpus]);
  const file = path.join(dir, 'tokenizer.json');
  trained.save(file);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  json.decoder = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  fs.writeFileSync(file, JSON.stringify(json));
  const bytes = lines.reduce((n, line) => n + Buffer.byteLength(line), 0);
  fixture = { dir, lines, bytes, file };
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return fixture;
}

/** HF's library as an in-process peer handle (see PeerPool.setupAll): encodeBatch of all lines with its
 * parallelism off, and the ids read out as a JavaScript caller would. */
async function hfPeer(row) {
  process.env.TOKENIZERS_PARALLELISM = 'false'; // one thread: read by the library at each batch
  const hf = require('@anush008/tokenizers');
  const { version } = require('@anush008/tokenizers/package.json');
  const { lines, file } = tokenizerFixture(row.spec);
  const tokenizer = hf.Tokenizer.fromFile(file);
  const encodeAll = async () => {
    for (const encoding of await tokenizer.encodeBatch(lines, { addSpecialTokens: false })) encoding.getIds();
  };
  return {
    handles: [
      {
        library: 'hf-tokenizers',
        label: `HF tokenizers (Rust, @anush008/tokenizers ${version}, 1 thread)`,
        isa: null,
        capped: null,
        threads: 1,
        processThreads: 1,
        time: async (iters) => {
          const start = process.hrtime.bigint();
          for (let i = 0; i < iters; i++) await encodeAll();
          return Number(process.hrtime.bigint() - start) / 1e6 / iters;
        },
        free: async () => undefined,
      },
    ],
  };
}

/** Two rows against the same peer: encode (ids), and encodeWithOffsets (ids and offsets, HF's encode always
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
      localPeers: { 'hf-tokenizers': hfPeer },
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
  return [
    row('e2e tokenizer encode byte-level BPE', false),
    row('e2e tokenizer encodeWithOffsets byte-level BPE', true),
  ];
}

module.exports = { tokenizerRows, tokenizerFixture };
