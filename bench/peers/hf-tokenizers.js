#!/usr/bin/env node
'use strict';
// The Hugging Face tokenizers side of `npm run bench -- --compare`: HF's own Rust implementation (npm
// @anush008/tokenizers) encodes the tokenizer rows' corpus with the same tokenizer.json as ours, one thread
// (TOKENIZERS_PARALLELISM=false), encodeBatch of all sentences with the ids read out as a JavaScript caller would.
// It speaks the protocol of peer.py (one JSON object per line each way: hello, setup, time, free).
const { serve, timeCalls } = require('./protocol');
const { tokenizerFixture } = require('../lib/tokenizer');

process.env.TOKENIZERS_PARALLELISM = 'false'; // read by the library at each batch
const handles = new Map();
let hf = null;

const OPS = {
  hello() {
    hf = require('@anush008/tokenizers');
    const { version } = require('@anush008/tokenizers/package.json');
    return { name: `HF tokenizers (Rust, @anush008/tokenizers ${version})`, isa: null, capped: null };
  },
  setup({ id, spec }) {
    if (spec.kind !== 'tokenizerEncode') throw new Error(`no tokenizers builder for row kind '${spec.kind}'`);
    const { lines, file } = tokenizerFixture(spec);
    const tokenizer = hf.Tokenizer.fromFile(file);
    handles.set(id, async () => {
      for (const encoding of await tokenizer.encodeBatch(lines, { addSpecialTokens: false })) encoding.getIds();
    });
    return { name: 'HF tokenizers (1 thread)' };
  },
  async time({ id, iters }) {
    const run = handles.get(id);
    if (run === undefined) throw new Error(`no setup with id ${id}`);
    return timeCalls(run, iters);
  },
  free({ id }) {
    handles.delete(id);
    return {};
  },
};

serve(OPS);
