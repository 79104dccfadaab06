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
//
// Files are read tensor by tensor with positioned reads, in chunks of CHUNK_BYTES converted straight into the
// tensor's native memory: loading needs the tensors' own size plus one chunk, never a copy of the whole file.

/** Bytes read (and converted) at a time; a multiple of every element size. */
const CHUNK_BYTES = 8 << 20;

/** A tensor as the header describes it: dtype as written in the file, shape, and its byte range in the data. */
export interface SafetensorsEntry {
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

interface Header {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  dataStart: number;
}

/** The header length the first 8 bytes declare, checked against the limit and the total size. */
function headerLengthOf(prefix: Uint8Array, totalBytes: number, fail: (message: string) => never): number {
  if (totalBytes < 8) fail(`file is ${totalBytes} bytes, too short for the 8-byte header length`);
  const declared = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLength = Number(declared);
  if (headerLength < 2) fail(`header length ${headerLength} is too small for a JSON object`);
  if (8 + headerLength > totalBytes)
    fail(`header length ${headerLength} runs past the end of the file (${totalBytes} bytes): truncated file?`);
  return headerLength;
}

function parseJson(headerBytes: Uint8Array, fail: (message: string) => never): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
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
  return header;
}

function parseMetadata(raw: unknown, fail: (message: string) => never): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (raw === undefined) return metadata;
  if (!isPlainObject(raw)) fail(`'${METADATA_KEY}' must be an object of strings`);
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string') fail(`metadata '${key}' must be a string, got ${JSON.stringify(value)}`);
    metadata[key] = value as string;
  }
  return metadata;
}

function parseEntry(
  name: string,
  raw: unknown,
  dataLength: number,
  fail: (message: string) => never,
): SafetensorsEntry {
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
  return { name, dtype, shape: shape as number[], begin, end };
}

/** The byte ranges must tile the data buffer exactly: no gaps (hidden data), no overlaps (aliasing). */
function checkTiling(entries: SafetensorsEntry[], dataLength: number, fail: (message: string) => never): void {
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
}

/** Parses and validates the whole header (its JSON bytes) against the total size, before any tensor data is read. */
function parseHeader(headerBytes: Uint8Array, totalBytes: number, fail: (message: string) => never): Header {
  const header = parseJson(headerBytes, fail);
  const metadata = parseMetadata(header[METADATA_KEY], fail);
  const dataStart = 8 + headerBytes.byteLength;
  const dataLength = totalBytes - dataStart;
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(header))
    if (name !== METADATA_KEY) entries.push(parseEntry(name, raw, dataLength, fail));
  checkTiling(entries, dataLength, fail);
  return { entries, metadata, dataStart };
}

function failer(source: string): (message: string) => never {
  return (message: string): never => {
    throw new Error(`loadSafetensors: ${source}: ${message}`);
  };
}

let halfTable: Float32Array | null = null;

/** float32 value of every IEEE half bit pattern (256 KiB, built on first use): F16 converts by lookup. */
function halfToFloatTable(): Float32Array {
  if (halfTable !== null) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) halfTable[h] = sign * fraction * 2 ** -24;
    else if (exponent === 0x1f) halfTable[h] = fraction === 0 ? sign * Infinity : NaN;
    else halfTable[h] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** The tensor dtype a file dtype is read as. */
function targetDtype(dtype: string): Tensor['dtype'] {
  if (dtype === 'BOOL') return 'bool';
  return dtype === 'F32' || dtype === 'F64' || dtype === 'F16' || dtype === 'BF16' ? 'float32' : 'int32';
}

/** Converts one chunk of an entry's bytes (4-byte aligned, holding whole elements) to float32 or int32 values.
 * `first` is the index of the chunk's first element, for error messages. */
function decodeChunk(bytes: Uint8Array, e: SafetensorsEntry, first: number, source: string): Float32Array | Int32Array {
  const n = bytes.byteLength / DTYPE_BYTES[e.dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const outOfRange = (i: number, value: bigint | number): never => {
    throw new RangeError(
      `loadSafetensors: ${source}: tensor '${e.name}' (${e.dtype}): element ${first + i} = ${value} does not fit in int32`,
    );
  };
  switch (e.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
    case 'I32':
      if (LITTLE_ENDIAN) return new Int32Array(bytes.buffer, bytes.byteOffset, n);
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
    case 'F64':
      return Float32Array.from({ length: n }, (_, i) => view.getFloat64(i * 8, true));
    case 'F16': {
      const table = halfToFloatTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[view.getUint16(i * 2, true)];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32: shift the bits into place.
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case 'I64':
    case 'U64':
      return Int32Array.from({ length: n }, (_, i) => {
        const v = e.dtype === 'I64' ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
        return v < BigInt(INT32_MIN) || v > BigInt(INT32_MAX) ? outOfRange(i, v) : Number(v);
      });
    case 'U32':
      return Int32Array.from({ length: n }, (_, i) => {
        const v = view.getUint32(i * 4, true);
        return v > INT32_MAX ? outOfRange(i, v) : v;
      });
    case 'I16':
      return Int32Array.from({ length: n }, (_, i) => view.getInt16(i * 2, true));
    case 'U16':
      return Int32Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
    case 'I8':
      return Int32Array.from({ length: n }, (_, i) => view.getInt8(i));
    case 'U8':
      return Int32Array.from({ length: n }, (_, i) => view.getUint8(i));
    case 'BOOL':
      return Int32Array.from({ length: n }, (_, i) => {
        const v = view.getUint8(i);
        if (v > 1)
          throw new RangeError(
            `loadSafetensors: ${source}: tensor '${e.name}' (BOOL): element ${first + i} is byte ${v}, not 0 or 1`,
          );
        return v;
      });
    default:
      throw new Error(`loadSafetensors: ${source}: tensor '${e.name}': unknown dtype ${e.dtype}`);
  }
}

/** Fills `t` (of the entry's element count and target dtype) chunk by chunk: `readInto(chunk, offset)` fills
 * `chunk` with the entry's bytes starting at byte `offset` of the entry. */
function fillFromEntry(
  t: Tensor,
  e: SafetensorsEntry,
  source: string,
  readInto: (chunk: Uint8Array, offset: number) => void,
): void {
  const total = e.end - e.begin;
  const elementBytes = DTYPE_BYTES[e.dtype];
  const buffer = new Uint8Array(Math.min(CHUNK_BYTES, total));
  for (let offset = 0; offset < total; offset += CHUNK_BYTES) {
    const chunk = buffer.subarray(0, Math.min(CHUNK_BYTES, total - offset));
    readInto(chunk, offset);
    t.storage.write(decodeChunk(chunk, e, offset / elementBytes, source), offset / elementBytes);
  }
}

/** A new tensor for the entry (see fillFromEntry); disposed if a value fails to convert. */
function decodeEntry(
  e: SafetensorsEntry,
  source: string,
  readInto: (chunk: Uint8Array, offset: number) => void,
): Tensor {
  const t = Tensor.empty(e.shape, targetDtype(e.dtype));
  try {
    fillFromEntry(t, e, source, readInto);
  } catch (err) {
    t.dispose();
    throw err;
  }
  return t;
}

function byName(a: SafetensorsEntry, b: SafetensorsEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Reads every entry through `read`, disposing the tensors already made if one fails. */
function readAll(entries: SafetensorsEntry[], read: (e: SafetensorsEntry) => Tensor): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  try {
    for (const e of [...entries].sort(byName)) tensors.set(e.name, read(e));
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return tensors;
}

/** Reads safetensors bytes. `source` names the data in error messages (a file path, a URL...). The whole header
 * is validated before any tensor is created; if a value fails to convert, tensors already made are disposed. */
export function loadSafetensorsFromBuffer(buf: Uint8Array, source = '<buffer>'): SafetensorsContent {
  if (!(buf instanceof Uint8Array))
    throw new TypeError(
      `loadSafetensorsFromBuffer: buf must be a Buffer or Uint8Array, got ${buf === null ? 'null' : typeof buf}`,
    );
  const fail = failer(source);
  const headerLength = headerLengthOf(buf, buf.byteLength, fail);
  const { entries, metadata, dataStart } = parseHeader(buf.subarray(8, 8 + headerLength), buf.byteLength, fail);
  const tensors = readAll(entries, (e) =>
    decodeEntry(e, source, (chunk, offset) => {
      const from = dataStart + e.begin + offset;
      chunk.set(buf.subarray(from, from + chunk.byteLength));
    }),
  );
  return { tensors, metadata };
}

/** An open .safetensors file whose header has been read and validated: tensors are read one at a time with
 * positioned reads, so a model loads without ever holding the file in memory. Call close() when done. */
export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  /** The file's tensors by name (sorted), as the header describes them. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  private fd: number | null;
  private readonly dataStart: number;

  private constructor(
    readonly path: string,
    fd: number,
    header: Header,
  ) {
    this.fd = fd;
    this.metadata = header.metadata;
    this.dataStart = header.dataStart;
    this.entries = new Map([...header.entries].sort(byName).map((e) => [e.name, e]));
  }

  /** Opens the file and validates its whole header (sizes and byte ranges against the file's size). */
  static open(file: string): SafetensorsFile {
    if (typeof file !== 'string' || file.length === 0)
      throw new TypeError('loadSafetensors: path must be a non-empty string');
    const fd = fs.openSync(file, 'r');
    try {
      const fail = failer(file);
      const size = fs.fstatSync(fd).size;
      const prefix = new Uint8Array(8);
      readExactly(fd, prefix, 0, file);
      const headerLength = headerLengthOf(prefix, size, fail);
      const headerBytes = new Uint8Array(headerLength);
      readExactly(fd, headerBytes, 8, file);
      return new SafetensorsFile(file, fd, parseHeader(headerBytes, size, fail));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** Reads one tensor (F16, BF16 and F64 become float32; the integer types int32). */
  read(name: string): Tensor {
    const fd = this.fd;
    if (fd === null) throw new Error(`loadSafetensors: ${this.path}: read('${name}') after close()`);
    const e = this.entries.get(name);
    if (e === undefined) throw new RangeError(`loadSafetensors: ${this.path}: no tensor named '${name}'`);
    return decodeEntry(e, this.path, (chunk, offset) =>
      readExactly(fd, chunk, this.dataStart + e.begin + offset, this.path),
    );
  }

  /** Reads one tensor straight into `target` (a CPU tensor with as many elements, of the dtype the entry reads
   * as; its shape may differ, e.g. [1, V] into [V]): no temporary copy of the tensor. */
  readInto(name: string, target: Tensor): void {
    const fd = this.fd;
    if (fd === null) throw new Error(`loadSafetensors: ${this.path}: readInto('${name}') after close()`);
    const e = this.entries.get(name);
    if (e === undefined) throw new RangeError(`loadSafetensors: ${this.path}: no tensor named '${name}'`);
    const count = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
    if (!(target instanceof Tensor) || target.size !== count || target.dtype !== targetDtype(e.dtype))
      throw new RangeError(
        `loadSafetensors: ${this.path}: '${name}' (${e.dtype} ${fmtShape(e.shape)}) does not fit the target ${target instanceof Tensor ? `${target.dtype} ${fmtShape(target.shape)}` : typeof target}`,
      );
    if (target.device !== 'cpu')
      throw new RangeError(`loadSafetensors: readInto needs a CPU tensor, got ${target.device}`);
    fillFromEntry(target, e, this.path, (chunk, offset) =>
      readExactly(fd, chunk, this.dataStart + e.begin + offset, this.path),
    );
  }

  /** Reads every tensor, by name (sorted). */
  readAll(): Map<string, Tensor> {
    return readAll([...this.entries.values()], (e) => this.read(e.name));
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

function readExactly(fd: number, into: Uint8Array, position: number, source: string): void {
  let done = 0;
  while (done < into.byteLength) {
    const n = fs.readSync(fd, into, done, into.byteLength - done, position + done);
    if (n === 0)
      throw new Error(`loadSafetensors: ${source}: file ended at byte ${position + done} (changed while read?)`);
    done += n;
  }
}

/** Reads a .safetensors file: its tensors (by name, sorted) and its string metadata. The header is validated
 * first; tensors are then read one by one straight into their own memory. */
export function loadSafetensors(file: string): SafetensorsContent {
  const st = SafetensorsFile.open(file);
  try {
    return { tensors: st.readAll(), metadata: st.metadata };
  } finally {
    st.close();
  }
}
