#!/usr/bin/env node
'use strict';
// The onnxruntime-node side of `npm run bench -- --compare`: builds the row's model with the library (the same
// sizes and seed as ours), exports it with io.exportOnnx, and times it in an onnxruntime InferenceSession on the
// CPU provider with the row's thread count as its intra-op threads. It speaks the protocol of peer.py (one JSON
// object per line each way: hello, setup, time, free); its own process keeps onnxruntime's spinning thread pool
// away from ours.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { serve, timeCalls } = require('./protocol');
const { classifierOptions, gptOptions, randomIds } = require('../lib/rows');

const ROOT = path.join(__dirname, '..', '..');
const handles = new Map();
let ort = null;
let pkg = null;
let workDir = null;

function int64(values, dims) {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );
}

/** The zero-length caches of the first step of a cached decoder with these sizes. */
function emptyPast(layers, batch, heads, headDim) {
  const feeds = {};
  for (let i = 0; i < layers; i++)
    for (const kind of ['key', 'value'])
      feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [
        batch,
        heads,
        0,
        headDim,
      ]);
  return feeds;
}

/** Greedy decoding of `newTokens` tokens after `prompt` through the cached graph: one call per token. */
async function generate(session, prompt, newTokens, pastFeeds) {
  let feeds = { ...pastFeeds, input_ids: int64(prompt, [1, prompt.length]) };
  for (let step = 0; step < newTokens; step++) {
    const out = await session.run(feeds);
    const [, T, V] = out.logits.dims;
    const logits = out.logits.data;
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[(T - 1) * V + v] > logits[(T - 1) * V + best]) best = v;
    feeds = { input_ids: int64([best], [1, 1]) };
    for (const [name, value] of Object.entries(out))
      if (name.startsWith('present.')) feeds[name.replace('present.', 'past_key_values.')] = value;
  }
}

/** A model built by the library from the row's sizes, exported to `file`, in a session with `options`. */
async function exportedSession(model, file, exportOptions, options) {
  pkg.io.exportOnnx(model.eval(), file, exportOptions);
  model.dispose();
  return ort.InferenceSession.create(file, options);
}

/** Per row kind: the model exported to `file` and the call to time ({ session, run }). */
const BUILDERS = {
  async gptForward(spec, file, options) {
    const session = await exportedSession(new pkg.GPT(gptOptions(spec)), file, {}, options);
    const ids = randomIds(spec.batch * spec.context, spec.vocab, 3);
    const feeds = { input_ids: int64(ids, [spec.batch, spec.context]) };
    return { session, run: () => session.run(feeds) };
  },
  async classifierForward(spec, file, options) {
    const session = await exportedSession(new pkg.EncoderClassifier(classifierOptions(spec)), file, {}, options);
    const count = spec.batch * spec.length;
    const feeds = {
      input_ids: int64(
        randomIds(count, spec.vocab - 1, 5).map((v) => v + 1),
        [spec.batch, spec.length],
      ),
      attention_mask: int64(new Array(count).fill(1), [spec.batch, spec.length]),
    };
    return { session, run: () => session.run(feeds) };
  },
  async gptGenerate(spec, file, options) {
    const session = await exportedSession(new pkg.GPT(gptOptions(spec)), file, { kvCache: true }, options);
    const prompt = Array.from(randomIds(spec.prompt, spec.vocab, 4));
    const past = emptyPast(spec.layers, 1, spec.heads, spec.dModel / spec.heads);
    return { session, run: () => generate(session, prompt, spec.newTokens, past) };
  },
};

const OPS = {
  hello() {
    ort = require('onnxruntime-node');
    pkg = require(path.join(ROOT, 'dist'));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-bench-onnx-'));
    return { name: `onnxruntime-node ${ort.env.versions.node} (CPU provider)`, isa: null, capped: null };
  },
  async setup({ id, spec, threads }) {
    const builder = BUILDERS[spec.kind];
    if (builder === undefined) throw new Error(`no onnxruntime builder for row kind '${spec.kind}'`);
    const options = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
    const handle = await builder(spec, path.join(workDir, `model-${id}.onnx`), options);
    await handle.run(); // the first run sets the session's buffers and kernels up
    handles.set(id, handle);
    return { name: `onnxruntime-node (${threads} intra-op thread${threads > 1 ? 's' : ''})` };
  },
  async time({ id, iters }) {
    const handle = handles.get(id);
    if (handle === undefined) throw new Error(`no setup with id ${id}`);
    return timeCalls(() => handle.run(), iters);
  },
  async free({ id }) {
    const handle = handles.get(id);
    handles.delete(id);
    if (handle !== undefined) await handle.session.release();
    return {};
  },
};

serve(OPS).then(() => {
  if (workDir !== null) fs.rmSync(workDir, { recursive: true, force: true });
});
