// Streaming safetensors reads: tensors read one at a time by positioned reads (several chunks for big tensors,
// converted chunk by chunk), the header validated before any data read, and HF's sharded index.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSafetensors, SafetensorsFile, SafetensorsShards, saveSafetensors } from '../../src/io';
import { tensor, zeros } from '../../src/tensor';
import { expectError } from '../helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-streaming-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A file with one tensor of the given dtype and raw little-endian bytes. */
function writeRaw(file: string, dtype: string, shape: number[], data: Buffer): void {
  let json = Buffer.from(JSON.stringify({ x: { dtype, shape, data_offsets: [0, data.length] } }));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([prefix, json, data]));
}

test('a tensor larger than the 8 MiB read chunk loads exactly, from F32, F16 and BF16', () => {
  const n = 5 * 2 ** 20 + 3; // 20 MiB of F32: three chunks, the last one partial
  const f32 = Buffer.alloc(n * 4);
  const f16 = Buffer.alloc(n * 2);
  const bf16 = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const v = ((i % 255) - 127) / 4; // 8 significant bits: exact in bfloat16
    f32.writeFloatLE(v, i * 4);
    bf16.writeUInt16LE(f32.readUInt32LE(i * 4) >>> 16, i * 2);
  }
  // F16 bit patterns: every exponent/fraction, including subnormals, infinities and NaN, checked by formula.
  for (let i = 0; i < n; i++) f16.writeUInt16LE(i % 65536, i * 2);
  writeRaw(path.join(dir, 'f32.safetensors'), 'F32', [n], f32);
  writeRaw(path.join(dir, 'f16.safetensors'), 'F16', [n], f16);
  writeRaw(path.join(dir, 'bf16.safetensors'), 'BF16', [n], bf16);
  const expected = new Float32Array(f32.buffer, f32.byteOffset, n);
  for (const name of ['f32', 'bf16']) {
    const t = loadSafetensors(path.join(dir, `${name}.safetensors`)).tensors.get('x')!;
    expect(t.dtype).toBe('float32');
    const got = t.dataSync();
    let mismatches = 0;
    for (let i = 0; i < n; i++) if (got[i] !== expected[i]) mismatches++;
    expect(mismatches).toBe(0);
    t.dispose();
  }
  const half = loadSafetensors(path.join(dir, 'f16.safetensors')).tensors.get('x')!.dataSync();
  const reference = (h: number): number => {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) return sign * f * 2 ** -24;
    if (e === 31) return f === 0 ? sign * Infinity : NaN;
    return sign * (1 + f / 1024) * 2 ** (e - 15);
  };
  let bad = 0;
  for (let i = 0; i < n; i += 7) if (!Object.is(half[i], Math.fround(reference(i % 65536)))) bad++;
  expect(bad).toBe(0);
});

test('SafetensorsFile reads tensors one at a time and validates the header on open, before any data', () => {
  const file = path.join(dir, 'a.safetensors');
  saveSafetensors(file, { b: tensor([1, 2, 3]), a: tensor([[4, 5]]) }, { note: 'hi' });
  const st = SafetensorsFile.open(file);
  expect([...st.entries.keys()]).toEqual(['a', 'b']);
  expect(st.entries.get('a')).toMatchObject({ dtype: 'F32', shape: [1, 2] });
  expect(st.metadata).toEqual({ note: 'hi' });
  expect(st.read('b').toArray()).toEqual([1, 2, 3]);
  expectError(() => st.read('c'), 'RangeError', /no tensor named 'c'/);
  const flat = zeros([2]);
  st.readInto('a', flat); // [1, 2] into [2]: same elements, no temporary
  expect(flat.toArray()).toEqual([4, 5]);
  expectError(() => st.readInto('b', flat), 'RangeError', /'b' \(F32 \[3\]\) does not fit the target float32 \[2\]/);
  st.close();
  expectError(() => st.read('a'), 'Error', /after close/);
  // A header whose offsets run past the end is refused at open.
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, bytes.length - 4));
  expectError(() => SafetensorsFile.open(file), 'Error', /run past|trailing|cover/);
});

describe('sharded index', () => {
  function shards(): string {
    saveSafetensors(path.join(dir, 'm-1.safetensors'), { a: tensor([1, 2]), b: tensor([3]) });
    saveSafetensors(path.join(dir, 'm-2.safetensors'), { c: tensor([4, 5, 6]) });
    const index = path.join(dir, 'model.safetensors.index.json');
    const weightMap = { a: 'm-1.safetensors', b: 'm-1.safetensors', c: 'm-2.safetensors' };
    fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: 24 }, weight_map: weightMap }));
    return index;
  }

  test('reads every tensor from the shard the index names', () => {
    const st = SafetensorsShards.open(shards());
    expect([...st.entries.keys()]).toEqual(['a', 'b', 'c']);
    expect(st.read('c').toArray()).toEqual([4, 5, 6]);
    expect(st.read('a').toArray()).toEqual([1, 2]);
    st.close();
  });

  test('an index that disagrees with its shards, or points outside its folder, is an error naming it', () => {
    const index = shards();
    const write = (weightMap: unknown) => fs.writeFileSync(index, JSON.stringify({ weight_map: weightMap }));
    write({ a: 'm-1.safetensors', c: 'm-2.safetensors' });
    expectError(
      () => SafetensorsShards.open(index),
      'Error',
      /shard m-1\.safetensors holds 'b', which the index does not list/,
    );
    write({ a: 'm-1.safetensors', b: 'm-2.safetensors', c: 'm-2.safetensors' });
    expectError(() => SafetensorsShards.open(index), 'Error', /holds 'b', which the index assigns to m-2\.safetensors/);
    write({ a: '../m-1.safetensors' });
    expectError(() => SafetensorsShards.open(index), 'Error', /must be a \.safetensors file name beside the index/);
    write({ a: 'm-3.safetensors' });
    expectError(() => SafetensorsShards.open(index), 'Error', /ENOENT/);
    fs.writeFileSync(index, '{"weight_map": 3}');
    expectError(() => SafetensorsShards.open(index), 'Error', /needs a 'weight_map' object/);
  });
});
