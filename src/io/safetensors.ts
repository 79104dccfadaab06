// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of UTF-8 JSON describing each tensor (dtype, shape, [begin, end) byte offsets into the data that
// follows, plus an optional "__metadata__" string map), then the raw little-endian data.
//
// Written dtypes: float32 -> F32, int32 -> I32, bool -> BOOL (one byte per element, 0 or 1, as the format
// defines). Read dtypes: F32, I32, BOOL as themselves; F16, BF16 and F64 converted to float32; I64, U32, I16,
// U16, I8 and U8 converted to int32 (values that do not fit int32 are an error, never silently wrapped).
import * as fs from 'node:fs';
import { fmtShape } from '../checks';
import { Tensor } from '../tensor';
import { writeFileAtomic } from './atomic';

export interface SafetensorsContent {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

const METADATA_KEY = '__metadata__';
/** Headers beyond this are refused before parsing, as the reference implementation does (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
const ENTRY_KEYS = new Set(['dtype', 'shape', 'data_offsets']);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per element of every dtype this module reads. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
/** Dtypes of the format that have no float32/int32 equivalent here. */
const UNSUPPORTED_DTYPES = new Set(['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64', 'C128']);

type TensorSource = Record<string, Tensor> | Map<string, Tensor>;

// ---- writing --------------------------------------------------------------------------------------------------

function entriesOf(op: string, tensors: TensorSource): Array<[string, Tensor]> {
  let entries: Array<[string, unknown]>;
  if (tensors instanceof Map) entries = [...tensors.entries()];
  else if (tensors !== null && typeof tensors === 'object' && !Array.isArray(tensors))
    entries = Object.entries(tensors);
  else
    throw new TypeError(
      `${op}: tensors must be a Map or a plain object of name -> Tensor, got ${Array.isArray(tensors) ? 'an array' : typeof tensors}`,
    );
  for (const [name, t] of entries) {
    if (typeof name !== 'string') throw new TypeError(`${op}: tensor names must be strings, got ${typeof name}`);
    if (name === METADATA_KEY) throw new RangeError(`${op}: '${METADATA_KEY}' is reserved and cannot name a tensor`);
    if (!(t instanceof Tensor))
      throw new TypeError(`${op}: '${name}' must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (t.isDisposed) throw new Error(`${op}: '${name}' was used after dispose()`);
  }
  // Sorted by name (code units, not locale) so equal content always gives identical bytes.
  return (entries as Array<[string, Tensor]>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function checkMetadata(op: string, metadata: unknown): Record<string, string> {
  if (metadata === undefined || metadata === null) return {};
  if (typeof metadata !== 'object' || Array.isArray(metadata))
    throw new TypeError(
      `${op}: metadata must be a plain object of string -> string, got ${Array.isArray(metadata) ? 'an array' : typeof metadata}`,
    );
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string')
      throw new TypeError(`${op}: metadata '${key}' must be a string, got ${typeof value}`);
  }
  return { ...(metadata as Record<string, string>) };
}

function tensorBytes(t: Tensor): Uint8Array {
  if (t.dtype === 'bool') return Uint8Array.from(t.dataSync(), (v) => (v !== 0 ? 1 : 0));
  const data = t.dataSync();
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (t.dtype === 'float32') view.setFloat32(i * 4, data[i], true);
    else view.setInt32(i * 4, data[i], true);
  }
  return out;
}

/** The safetensors bytes of the given tensors (sorted by name) and optional string metadata. */
export function serializeSafetensors(tensors: TensorSource, metadata?: Record<string, string>): Buffer {
  return encode('serializeSafetensors', tensors, metadata);
}

function encode(op: string, tensors: TensorSource, metadata: Record<string, string> | undefined): Buffer {
  const entries = entriesOf(op, tensors);
  const meta = checkMetadata(op, metadata);
  const header: Record<string, unknown> = {};
  if (Object.keys(meta).length > 0) header[METADATA_KEY] = meta;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = t.size === 0 ? new Uint8Array(0) : tensorBytes(t);
    const dtype = t.dtype === 'float32' ? 'F32' : t.dtype === 'int32' ? 'I32' : 'BOOL';
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Spaces pad the header so the data starts 8-byte aligned, as the reference writer does.
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = Buffer.alloc(8 + headerLength + offset, 0x20);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(out, 8);
  let position = 8 + headerLength;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.byteLength;
  }
  return out;
}

/** Writes the tensors (and optional string metadata) to a .safetensors file, atomically. */
export function saveSafetensors(file: string, tensors: TensorSource, metadata?: Record<string, string>): void {
  if (typeof file !== 'string' || file.length === 0)
    throw new TypeError('saveSafetensors: path must be a non-empty string');
  writeFileAtomic(file, encode('saveSafetensors', tensors, metadata));
}

// ---- reading --------------------------------------------------------------------------------------------------

interface EntryInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates the whole header against the buffer size, before any tensor data is read. */
function parseHeader(
  buf: Uint8Array,
  source: string,
): { entries: EntryInfo[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (message: string): never => {
    throw new Error(`loadSafetensors: ${source}: ${message}`);
  };
  if (buf.byteLength < 8) fail(`file is ${buf.byteLength} bytes, too short for the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLength = Number(declared);
  if (headerLength < 2) fail(`header length ${headerLength} is too small for a JSON object`);
  if (8 + headerLength > buf.byteLength)
    fail(`header length ${headerLength} runs past the end of the file (${buf.byteLength} bytes): truncated file?`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + headerLength));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header is not a JSON object');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) return fail('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const rawMetadata = header[METADATA_KEY];
  if (rawMetadata !== undefined) {
    if (!isPlainObject(rawMetadata)) fail(`'${METADATA_KEY}' must be an object of strings`);
    for (const [key, value] of Object.entries(rawMetadata as Record<string, unknown>)) {
      if (typeof value !== 'string') fail(`metadata '${key}' must be a string, got ${JSON.stringify(value)}`);
      metadata[key] = value as string;
    }
  }

  const dataStart = 8 + headerLength;
  const dataLength = buf.byteLength - dataStart;
  const entries: EntryInfo[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const bad = (message: string): never => fail(`tensor '${name}': ${message}`);
    if (!isPlainObject(raw)) bad('entry must be an object with dtype, shape and data_offsets');
    const entry = raw as Record<string, unknown>;
    for (const key of Object.keys(entry)) if (!ENTRY_KEYS.has(key)) bad(`unknown key '${key}'`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') return bad(`dtype must be a string, got ${JSON.stringify(dtype)}`);
    if (UNSUPPORTED_DTYPES.has(dtype))
      bad(`dtype ${dtype} is not supported (readable: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    if (!(dtype in DTYPE_BYTES)) bad(`unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger))
      bad(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger))
      bad(`data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as number[];
    if (begin > end) bad(`data_offsets [${begin}, ${end}] are reversed`);
    if (end > dataLength) bad(`data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data buffer`);
    let count = 1;
    for (const d of shape as number[]) count *= d;
    const expected = count * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(expected) || expected !== end - begin)
      bad(
        `shape ${fmtShape(shape as number[])} of ${dtype} needs ${expected} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The byte ranges must tile the data buffer exactly: no gaps (hidden data), no overlaps (aliasing).
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of ordered) {
    if (e.begin < covered)
      fail(
        `tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (which ends at ${covered})`,
      );
    if (e.begin > covered)
      fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${covered}`);
    covered = e.end;
  }
  if (covered !== dataLength)
    fail(
      `tensors cover ${covered} bytes but the data buffer holds ${dataLength}: ${dataLength - covered} trailing bytes`,
    );
  return { entries, metadata, dataStart };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** Decodes one validated entry into a new tensor. */
function decodeEntry(buf: Uint8Array, start: number, e: EntryInfo, source: string): Tensor {
  const n = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
  const view = new DataView(buf.buffer, buf.byteOffset + start + e.begin, e.end - e.begin);
  let values: Float32Array | Int32Array;
  let dtype: Tensor['dtype'];
  const outOfRange = (i: number, value: bigint | number): never => {
    throw new RangeError(
      `loadSafetensors: ${source}: tensor '${e.name}' (${e.dtype}): element ${i} = ${value} does not fit in int32`,
    );
  };
  switch (e.dtype) {
    case 'F32':
    case 'I32': {
      // Copied into fresh memory: the source may sit at an offset that is not 4-byte aligned.
      const bytes = new Uint8Array(e.end - e.begin);
      bytes.set(buf.subarray(start + e.begin, start + e.end));
      if (LITTLE_ENDIAN) values = e.dtype === 'F32' ? new Float32Array(bytes.buffer) : new Int32Array(bytes.buffer);
      else if (e.dtype === 'F32') values = Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
      else values = Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
      dtype = e.dtype === 'F32' ? 'float32' : 'int32';
      break;
    }
    case 'F64':
      values = Float32Array.from({ length: n }, (_, i) => view.getFloat64(i * 8, true));
      dtype = 'float32';
      break;
    case 'F16':
      values = Float32Array.from({ length: n }, (_, i) => halfToFloat(view.getUint16(i * 2, true)));
      dtype = 'float32';
      break;
    case 'BF16': {
      const bits = Uint32Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true) << 16);
      values = new Float32Array(bits.buffer);
      dtype = 'float32';
      break;
    }
    case 'I64':
    case 'U64':
      values = Int32Array.from({ length: n }, (_, i) => {
        const v = e.dtype === 'I64' ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
        return v < BigInt(INT32_MIN) || v > BigInt(INT32_MAX) ? outOfRange(i, v) : Number(v);
      });
      dtype = 'int32';
      break;
    case 'U32':
      values = Int32Array.from({ length: n }, (_, i) => {
        const v = view.getUint32(i * 4, true);
        return v > INT32_MAX ? outOfRange(i, v) : v;
      });
      dtype = 'int32';
      break;
    case 'I16':
      values = Int32Array.from({ length: n }, (_, i) => view.getInt16(i * 2, true));
      dtype = 'int32';
      break;
    case 'U16':
      values = Int32Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
      dtype = 'int32';
      break;
    case 'I8':
      values = Int32Array.from({ length: n }, (_, i) => view.getInt8(i));
      dtype = 'int32';
      break;
    case 'U8':
      values = Int32Array.from({ length: n }, (_, i) => view.getUint8(i));
      dtype = 'int32';
      break;
    case 'BOOL':
      values = Int32Array.from({ length: n }, (_, i) => {
        const v = view.getUint8(i);
        if (v > 1)
          throw new RangeError(
            `loadSafetensors: ${source}: tensor '${e.name}' (BOOL): element ${i} is byte ${v}, not 0 or 1`,
          );
        return v;
      });
      dtype = 'bool';
      break;
    default:
      throw new Error(`loadSafetensors: ${source}: tensor '${e.name}': unknown dtype ${e.dtype}`);
  }
  const t = Tensor.empty(e.shape, dtype);
  if (n > 0) t.storage.write(values, 0);
  return t;
}

/** Reads safetensors bytes. `source` names the data in error messages (a file path, a URL...). The whole header
 * is validated before any tensor is created; if a value fails to convert, tensors already made are disposed. */
export function loadSafetensorsFromBuffer(buf: Uint8Array, source = '<buffer>'): SafetensorsContent {
  if (!(buf instanceof Uint8Array))
    throw new TypeError(
      `loadSafetensorsFromBuffer: buf must be a Buffer or Uint8Array, got ${buf === null ? 'null' : typeof buf}`,
    );
  const { entries, metadata, dataStart } = parseHeader(buf, source);
  const tensors = new Map<string, Tensor>();
  try {
    for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
      tensors.set(e.name, decodeEntry(buf, dataStart, e, source));
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return { tensors, metadata };
}

/** Reads a .safetensors file: its tensors (by name, sorted) and its string metadata. */
export function loadSafetensors(file: string): SafetensorsContent {
  if (typeof file !== 'string' || file.length === 0)
    throw new TypeError('loadSafetensors: path must be a non-empty string');
  return loadSafetensorsFromBuffer(fs.readFileSync(file), file);
}
