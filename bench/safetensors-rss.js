'use strict';
// Peak memory of loading a large safetensors file: a generated file of --mib MiB of float32 weights (16 tensors)
// is loaded in a fresh process by io.loadSafetensors (positioned reads, tensor by tensor, into each tensor's own
// memory) and, for comparison, by reading the whole file into one buffer and decoding that
// (io.loadSafetensorsFromBuffer(fs.readFileSync(file)), the way files were read before). With --dtype F16 or
// BF16 the file holds half-size values that load as float32. The figure is the process's peak resident set
// (getrusage), so it includes Node and the library; the ratio is that peak over the model's float32 size.
// With --hf, the file instead holds a GPT-2 medium (355 M parameters, 1.4 GB as float32) under HF's names beside
// its config.json, and the loader is models.fromHuggingFace (the model built, then its weights read into it).
//   node bench/safetensors-rss.js [--mib 1024] [--dtype F32|F16|BF16] [--hf] [--json path]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeFileAtomic } = require('./lib/report');

const ROOT = path.join(__dirname, '..');
const USAGE = 'usage: node bench/safetensors-rss.js [--mib N] [--dtype F32|F16|BF16] [--hf] [--json path]';
const GPT2_MEDIUM = { vocab: 50257, positions: 1024, embd: 1024, layers: 24, heads: 16 };
const BYTES = { F32: 4, F16: 2, BF16: 2 };

function parseArgs(argv) {
  const options = { mib: 1024, dtype: 'F32', json: null, side: null, file: null, hf: false };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--hf') {
      options.hf = true;
      i--;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw new TypeError(`safetensors-rss: ${argv[i]} needs a value\n${USAGE}`);
    if (argv[i] === '--mib' && /^\d+$/.test(value) && Number(value) >= 16) options.mib = Number(value);
    else if (argv[i] === '--dtype' && value in BYTES) options.dtype = value;
    else if (argv[i] === '--json') options.json = value;
    else if (argv[i] === '--side')
      options.side = value; // internal: the loading child process
    else if (argv[i] === '--file')
      options.file = value; // internal
    else throw new TypeError(`safetensors-rss: bad option '${argv[i]} ${value}'\n${USAGE}`);
  }
  return options;
}

/** name -> shape of a GPT-2 medium's tensors, as HF names them. */
function gpt2Shapes({ vocab, positions, embd, layers }) {
  const shapes = { 'wte.weight': [vocab, embd], 'wpe.weight': [positions, embd] };
  /** A layer's weight (LayerNorm: [width]; Conv1D: [in, out]) and its bias [width or out]. */
  const layer = (name, weight) => {
    shapes[`${name}.weight`] = weight;
    shapes[`${name}.bias`] = [weight[weight.length - 1]];
  };
  for (let i = 0; i < layers; i++) {
    layer(`h.${i}.ln_1`, [embd]);
    layer(`h.${i}.attn.c_attn`, [embd, 3 * embd]);
    layer(`h.${i}.attn.c_proj`, [embd, embd]);
    layer(`h.${i}.ln_2`, [embd]);
    layer(`h.${i}.mlp.c_fc`, [embd, 4 * embd]);
    layer(`h.${i}.mlp.c_proj`, [4 * embd, embd]);
  }
  layer('ln_f', [embd]);
  return shapes;
}

/** 16 equal tensors of mib MiB in all (as float32). */
function flatShapes(mib) {
  const elements = Math.floor((mib * 2 ** 20) / 4 / 16);
  return Object.fromEntries(
    Array.from({ length: 16 }, (_, i) => [`layer.${String(i).padStart(2, '0')}.weight`, [elements / 1024, 1024]]),
  );
}

/** Writes the file chunk by chunk (never the whole file in memory); returns the float32 bytes it loads to. */
function generate(file, shapes, dtype) {
  const header = {};
  let offset = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const total = offset;
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const fd = fs.openSync(file, 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  fs.writeSync(fd, prefix);
  fs.writeSync(fd, json);
  const chunk = Buffer.alloc(4 << 20);
  for (let i = 0; i < chunk.length; i += 2) chunk.writeUInt16LE(0x3c00 + (i % 512), i); // finite in every dtype
  for (let written = 0; written < total; written += chunk.length)
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, total - written));
  fs.closeSync(fd);
  return (total / BYTES[dtype]) * 4;
}

function writeGpt2Config(dir, { vocab, positions, embd, layers, heads }) {
  const config = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: vocab, n_positions: positions };
  Object.assign(config, { n_embd: embd, n_layer: layers, n_head: heads, activation_function: 'gelu_new' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
}

/** Child side: load the file one way and print the peak RSS in KiB. */
function load(side, file) {
  const { io } = require(path.join(ROOT, 'dist'));
  const { models } = require(path.join(ROOT, 'dist'));
  const before = process.resourceUsage().maxRSS;
  if (side === 'fromHuggingFace') {
    const { model } = models.fromHuggingFace(path.dirname(file));
    const peak = process.resourceUsage().maxRSS;
    model.dispose();
    process.stdout.write(`${JSON.stringify({ baselineKiB: before, peakKiB: peak })}\n`);
    return;
  }
  const { tensors } =
    side === 'streaming' ? io.loadSafetensors(file) : io.loadSafetensorsFromBuffer(fs.readFileSync(file), file);
  const peak = process.resourceUsage().maxRSS;
  for (const t of tensors.values()) t.dispose();
  process.stdout.write(`${JSON.stringify({ baselineKiB: before, peakKiB: peak })}\n`);
}

function measure(side, file) {
  const child = spawnSync(process.execPath, [__filename, '--side', side, '--file', file], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`safetensors-rss: ${side} load failed: ${child.stderr.trim()}`);
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.side !== null) return load(options.side, options.file);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-safetensors-rss-'));
  const file = path.join(dir, options.hf ? 'model.safetensors' : 'big.safetensors');
  try {
    const float32Bytes = generate(file, options.hf ? gpt2Shapes(GPT2_MEDIUM) : flatShapes(options.mib), options.dtype);
    if (options.hf) writeGpt2Config(dir, GPT2_MEDIUM);
    const sides = options.hf ? ['fromHuggingFace', 'streaming'] : ['streaming', 'whole-file'];
    const rows = sides.map((side) => {
      const { baselineKiB, peakKiB } = measure(side, file);
      return { side, baselineMiB: baselineKiB / 1024, peakMiB: peakKiB / 1024, ratio: (peakKiB * 1024) / float32Bytes };
    });
    const report = {
      cpu: os.cpus()[0]?.model,
      dtype: options.dtype,
      fileMiB: fs.statSync(file).size / 2 ** 20,
      float32MiB: float32Bytes / 2 ** 20,
      rows,
    };
    console.log(
      `file ${report.fileMiB.toFixed(0)} MiB of ${options.dtype}, ${report.float32MiB.toFixed(0)} MiB as float32`,
    );
    for (const r of rows)
      console.log(
        `${r.side.padEnd(15)} peak RSS ${r.peakMiB.toFixed(0)} MiB (before loading ${r.baselineMiB.toFixed(0)} MiB): ${r.ratio.toFixed(3)}x the float32 size`,
      );
    if (options.json) writeFileAtomic(options.json, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
