'use strict';
// Peak memory of loading a large safetensors file: a generated file of --mib MiB of float32 weights (16 tensors)
// is loaded in a fresh process by io.loadSafetensors (positioned reads, tensor by tensor, into each tensor's own
// memory) and, for comparison, by reading the whole file into one buffer and decoding that
// (io.loadSafetensorsFromBuffer(fs.readFileSync(file)), the way files were read before). With --dtype F16 or
// BF16 the file holds half-size values that load as float32. The figure is the process's peak resident set
// (getrusage), so it includes Node and the library; the ratio is that peak over the model's float32 size.
//   node bench/safetensors-rss.js [--mib 1024] [--dtype F32|F16|BF16] [--json path]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeFileAtomic } = require('./lib/report');

const ROOT = path.join(__dirname, '..');
const USAGE = 'usage: node bench/safetensors-rss.js [--mib N] [--dtype F32|F16|BF16] [--json path]';
const BYTES = { F32: 4, F16: 2, BF16: 2 };

function parseArgs(argv) {
  const options = { mib: 1024, dtype: 'F32', json: null, side: null, file: null };
  for (let i = 0; i < argv.length; i += 2) {
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

/** Writes the file chunk by chunk (never the whole file in memory); returns the float32 bytes it loads to. */
function generate(file, mib, dtype) {
  const tensors = 16;
  const elements = Math.floor((mib * 2 ** 20) / 4 / tensors);
  const header = {};
  const tensorBytes = elements * BYTES[dtype];
  for (let i = 0; i < tensors; i++)
    header[`layer.${String(i).padStart(2, '0')}.weight`] = {
      dtype,
      shape: [elements / 1024, 1024],
      data_offsets: [i * tensorBytes, (i + 1) * tensorBytes],
    };
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const fd = fs.openSync(file, 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  fs.writeSync(fd, prefix);
  fs.writeSync(fd, json);
  const chunk = Buffer.alloc(4 << 20);
  for (let i = 0; i < chunk.length; i += 2) chunk.writeUInt16LE(0x3c00 + (i % 512), i); // finite in every dtype
  for (let written = 0; written < tensors * tensorBytes; written += chunk.length)
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, tensors * tensorBytes - written));
  fs.closeSync(fd);
  return tensors * elements * 4;
}

/** Child side: load the file one way and print the peak RSS in KiB. */
function load(side, file) {
  const { io } = require(path.join(ROOT, 'dist'));
  const before = process.resourceUsage().maxRSS;
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
  const file = path.join(dir, 'big.safetensors');
  try {
    const float32Bytes = generate(file, options.mib, options.dtype);
    const rows = ['streaming', 'whole-file'].map((side) => {
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
        `${r.side.padEnd(10)} peak RSS ${r.peakMiB.toFixed(0)} MiB (before loading ${r.baselineMiB.toFixed(0)} MiB): ${r.ratio.toFixed(3)}x the float32 size`,
      );
    if (options.json) writeFileAtomic(options.json, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
