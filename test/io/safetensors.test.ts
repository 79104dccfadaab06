// safetensors reading/writing (round trips, a file written by Python, every class of malformed file) and the
// atomic write helpers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  loadSafetensors,
  loadSafetensorsFromBuffer,
  previousDirName,
  recoverDir,
  replaceDirAtomic,
  saveSafetensors,
  serializeSafetensors,
  writeFileAtomic,
} from '../../src/io';
import { Tensor, tensor, zeros } from '../../src/tensor';
import { expectError, randomArray } from '../helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-safetensors-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A safetensors buffer from a header object (serialized as given) and raw data bytes. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('writing and reading back', () => {
  test('float32, int32 and bool tensors of every rank round-trip through a file, with metadata', () => {
    const f = tensor(randomArray(24, 1), { shape: [2, 3, 4] });
    const i = tensor(
      [
        [-7, 0, 2147483647],
        [-2147483648, 5, 1],
      ],
      { dtype: 'int32' },
    );
    const b = tensor([true, false, false, true, true]);
    const scalar = tensor(2.5, { shape: [] });
    const empty = zeros([0, 3]);
    const emptyInt = zeros([4, 0], { dtype: 'int32' });
    const file = path.join(dir, 'model.safetensors');
    saveSafetensors(
      file,
      { 'layer.weight': f, ids: i, mask: b, scalar, empty, emptyInt },
      { format: 'pt', epoch: '3' },
    );
    const { tensors, metadata } = loadSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', epoch: '3' });
    expect([...tensors.keys()]).toEqual(['empty', 'emptyInt', 'ids', 'layer.weight', 'mask', 'scalar']);
    for (const [name, original] of [
      ['layer.weight', f],
      ['ids', i],
      ['mask', b],
      ['scalar', scalar],
      ['empty', empty],
      ['emptyInt', emptyInt],
    ] as const) {
      const loaded = tensors.get(name) as Tensor;
      expect(loaded.dtype).toBe(original.dtype);
      expect(loaded.shape).toEqual(original.shape);
      expect(loaded.dataSync()).toEqual(original.dataSync());
    }
    expect(tensors.get('scalar')?.item()).toBe(2.5);
    expect(tensors.get('mask')?.toArray()).toEqual([true, false, false, true, true]);
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']); // no temporary file left behind
  });

  test('a Map works as input, and the buffer pair round-trips without files', () => {
    const tensors = new Map([
      ['b', tensor([1, 2, 3])],
      ['a', tensor([4], { dtype: 'int32' })],
    ]);
    const loaded = loadSafetensorsFromBuffer(serializeSafetensors(tensors));
    expect([...loaded.tensors.keys()]).toEqual(['a', 'b']);
    expect(loaded.tensors.get('b')?.toArray()).toEqual([1, 2, 3]);
    expect(loaded.metadata).toEqual({});
    expectError(
      () => serializeSafetensors({ w: 1 as unknown as Tensor }),
      'TypeError',
      /serializeSafetensors: 'w' must be a Tensor, got number/,
    );
  });

  test('the bytes follow the format: LE header length, padded sorted header, offsets from the data start', () => {
    const buf = serializeSafetensors(
      { z: tensor([1.5, -2]), a: tensor([7], { dtype: 'int32' }), m: tensor([true, false]) },
      { k: 'v' },
    );
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = buf.subarray(8, 8 + n).toString('utf8');
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"k":"v"},"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},' +
        '"m":{"dtype":"BOOL","shape":[2],"data_offsets":[4,6]},"z":{"dtype":"F32","shape":[2],"data_offsets":[6,14]}}',
    );
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    const data = buf.subarray(8 + n);
    expect(data.length).toBe(14);
    expect(data.readInt32LE(0)).toBe(7);
    expect([data[4], data[5]]).toEqual([1, 0]);
    expect([data.readFloatLE(6), data.readFloatLE(10)]).toEqual([1.5, -2]);
  });

  test('saving writes atomically over an existing file', () => {
    const file = path.join(dir, 'w.safetensors');
    saveSafetensors(file, { x: tensor([1]) });
    saveSafetensors(file, { x: tensor([2, 3]) });
    expect(loadSafetensors(file).tensors.get('x')?.toArray()).toEqual([2, 3]);
    expect(fs.readdirSync(dir)).toEqual(['w.safetensors']);
  });

  test('bad arguments to save throw clear errors', () => {
    const file = path.join(dir, 'bad.safetensors');
    expectError(
      () => saveSafetensors(file, { w: [1, 2] as unknown as Tensor }),
      'TypeError',
      /saveSafetensors: 'w' must be a Tensor/,
    );
    const gone = tensor([1]);
    gone.dispose();
    expectError(() => saveSafetensors(file, { gone }), 'Error', /'gone' was used after dispose/);
    expectError(() => saveSafetensors(file, { __metadata__: tensor([1]) }), 'RangeError', /'__metadata__' is reserved/);
    expectError(
      () => saveSafetensors(file, { a: tensor([1]) }, { epoch: 3 as unknown as string }),
      'TypeError',
      /metadata 'epoch' must be a string/,
    );
    expectError(
      () => saveSafetensors(file, [tensor([1])] as unknown as Record<string, Tensor>),
      'TypeError',
      /must be a Map or a plain object/,
    );
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('a file written by Python', () => {
  const goldenDir = path.join(__dirname, '..', 'golden');
  const expected = JSON.parse(fs.readFileSync(path.join(goldenDir, 'python.safetensors.json'), 'utf8')) as {
    metadata: Record<string, string>;
    tensors: Record<string, { shape: number[]; dtype: string; data: Array<number | boolean> }>;
  };

  test('every dtype (F32, F64, F16, BF16, I32, I64, U8, I8, BOOL, 0-d, empty) reads back converted', () => {
    const { tensors, metadata } = loadSafetensors(path.join(goldenDir, 'python.safetensors'));
    expect(metadata).toEqual(expected.metadata);
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
    for (const [name, want] of Object.entries(expected.tensors)) {
      const t = tensors.get(name) as Tensor;
      expect({ name, dtype: t.dtype, shape: t.shape }).toEqual({ name, dtype: want.dtype, shape: want.shape });
      const values = t.dtype === 'bool' ? Array.from(t.dataSync(), (v) => v !== 0) : Array.from(t.dataSync());
      if (want.dtype === 'float32') {
        // Python wrote the float32 conversions of its values: identical float32 numbers.
        expect(values).toEqual(Array.from(Float32Array.from(want.data as number[])));
      } else {
        expect(values).toEqual(want.data);
      }
    }
  });
});

describe('malformed files throw clear errors naming the file and tensor', () => {
  const valid = () => serializeSafetensors({ a: tensor([1, 2, 3]), b: tensor([4, 5], { dtype: 'int32' }) }, { k: 'v' });

  test('truncated at any point', () => {
    const buf = valid();
    const n = Number(buf.readBigUInt64LE(0));
    const cuts = [0, 1, 7, 8, 12, 8 + Math.floor(n / 2), 8 + n - 1, 8 + n, 8 + n + 5, buf.length - 1];
    for (const cut of cuts) {
      let error: Error | undefined;
      try {
        loadSafetensorsFromBuffer(buf.subarray(0, cut), 'cut.safetensors');
      } catch (e) {
        error = e as Error;
      }
      expect({ cut, thrown: error !== undefined }).toEqual({ cut, thrown: true });
      expect((error as Error).message).toMatch(/^loadSafetensors: cut\.safetensors: /);
    }
    expectError(() => loadSafetensorsFromBuffer(buf.subarray(0, 5), 'x'), 'Error', /5 bytes, too short/);
    expectError(
      () => loadSafetensorsFromBuffer(buf.subarray(0, 8 + n - 1), 'x'),
      'Error',
      /runs past the end of the file/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(buf.subarray(0, buf.length - 1), 'x'),
      'Error',
      /tensor 'b'.*run past the 19-byte data buffer/,
    );
  });

  test('a file on disk is named in the error', () => {
    const file = path.join(dir, 'truncated.safetensors');
    fs.writeFileSync(file, valid().subarray(0, 20));
    expectError(
      () => loadSafetensors(file),
      'Error',
      new RegExp(`loadSafetensors: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: header length`),
    );
    expectError(() => loadSafetensors(path.join(dir, 'missing.safetensors')), 'Error', /ENOENT/);
  });

  test('header length larger than the file, absurdly large, or too small', () => {
    const buf = valid();
    buf.writeBigUInt64LE(BigInt(buf.length), 0);
    expectError(() => loadSafetensorsFromBuffer(buf, 'f'), 'Error', /header length \d+ runs past the end of the file/);
    buf.writeBigUInt64LE(2n ** 63n, 0);
    expectError(() => loadSafetensorsFromBuffer(buf, 'f'), 'Error', /header length 9223372036854775808 exceeds/);
    buf.writeBigUInt64LE(0n, 0);
    expectError(() => loadSafetensorsFromBuffer(buf, 'f'), 'Error', /header length 0 is too small/);
  });

  test('header that is not a JSON object', () => {
    expectError(
      () => loadSafetensorsFromBuffer(rawFile(null, undefined, '{"a": '), 'f'),
      'Error',
      /f: header is not valid JSON/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile(null, undefined, '[1, 2]  '), 'f'),
      'Error',
      /header is not a JSON object/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile(null, undefined, '{} trailing'), 'f'),
      'Error',
      /not valid JSON/,
    );
    const badUtf8 = rawFile(null, undefined, '{"a":1}');
    badUtf8[10] = 0xff;
    expectError(() => loadSafetensorsFromBuffer(badUtf8, 'f'), 'Error', /not valid UTF-8/);
  });

  test('an empty header object is a valid file with no tensors', () => {
    const loaded = loadSafetensorsFromBuffer(rawFile({}));
    expect(loaded.tensors.size).toBe(0);
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({}, new Uint8Array(3)), 'f'),
      'Error',
      /cover 0 bytes but the data buffer holds 3/,
    );
  });

  test('offsets outside the buffer, overlapping, with gaps, reversed, or not integers', () => {
    const data = new Uint8Array(16);
    const entry = (begin: number, end: number) => ({
      dtype: 'F32',
      shape: [(end - begin) / 4],
      data_offsets: [begin, end],
    });
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: entry(8, 24) }, data), 'f'),
      'Error',
      /tensor 'x': data_offsets \[8, 24\] run past the 16-byte data buffer/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: entry(0, 12), y: entry(8, 16) }, data), 'f'),
      'Error',
      /tensor 'y'.*overlap/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: entry(0, 8), y: entry(12, 16) }, data), 'f'),
      'Error',
      /tensor 'y'.*gap after byte 8/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: entry(4, 16) }, data), 'f'),
      'Error',
      /tensor 'x'.*gap after byte 0/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: entry(0, 8) }, data), 'f'),
      'Error',
      /cover 8 bytes but the data buffer holds 16: 8 trailing/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: entry(0, 16), y: entry(0, 16) }, data), 'f'),
      'Error',
      /overlap/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: [0], data_offsets: [16, 0] } }, data), 'f'),
      'Error',
      /\[16, 0\] are reversed/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: [4], data_offsets: [0.5, 16] } }, data), 'f'),
      'Error',
      /tensor 'x': data_offsets must be two non-negative integers/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: [4], data_offsets: [0] } }, data), 'f'),
      'Error',
      /data_offsets must be two/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: [4], data_offsets: [-4, 12] } }, data), 'f'),
      'Error',
      /data_offsets must be two/,
    );
  });

  test('shape and byte size disagree, or the shape is not integers', () => {
    const data = new Uint8Array(16);
    expectError(
      () =>
        loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 16] } }, data), 'f'),
      'Error',
      /tensor 'x': shape \[2, 3\] of F32 needs 24 bytes, data_offsets \[0, 16\] hold 16/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F64', shape: [4], data_offsets: [0, 16] } }, data), 'f'),
      'Error',
      /F64 needs 32 bytes/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: [2.5], data_offsets: [0, 16] } }, data), 'f'),
      'Error',
      /shape must be an array of non-negative integers/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data), 'f'),
      'Error',
      /shape must be/,
    );
    expectError(
      () => loadSafetensorsFromBuffer(rawFile({ x: { dtype: 'F32', shape: '4', data_offsets: [0, 16] } }, data), 'f'),
      'Error',
      /shape must be/,
    );
    expectError(
      () =>
        loadSafetensorsFromBuffer(
          rawFile({ x: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 16] } }, data),
          'f',
        ),
      'Error',
      /needs .* bytes/,
    );
  });

  test('unknown or unsupported dtypes, unknown keys, missing fields, bad metadata', () => {
    const data = new Uint8Array(4);
    const f = (header: unknown) => () => loadSafetensorsFromBuffer(rawFile(header, data), 'f');
    expectError(
      f({ x: { dtype: 'F31', shape: [1], data_offsets: [0, 4] } }),
      'Error',
      /tensor 'x': unknown dtype "F31"/,
    );
    expectError(
      f({ x: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }),
      'Error',
      /tensor 'x': dtype F8_E4M3 is not supported/,
    );
    expectError(
      f({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: 1 } }),
      'Error',
      /tensor 'x': unknown key 'extra'/,
    );
    expectError(f({ x: { shape: [1], data_offsets: [0, 4] } }), 'Error', /tensor 'x': dtype must be a string/);
    expectError(f({ x: { dtype: 'F32', data_offsets: [0, 4] } }), 'Error', /tensor 'x': shape must be/);
    expectError(f({ x: [1, 2] }), 'Error', /tensor 'x': entry must be an object/);
    expectError(
      f({ __metadata__: { a: 1 }, x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }),
      'Error',
      /metadata 'a' must be a string/,
    );
    expectError(
      f({ __metadata__: 'meta', x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }),
      'Error',
      /'__metadata__' must be an object/,
    );
  });

  test('values that do not convert: I64 beyond int32, BOOL bytes other than 0/1', () => {
    const big = new Uint8Array(16);
    new DataView(big.buffer).setBigInt64(8, 2n ** 40n, true);
    const header = {
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'I64', shape: [1], data_offsets: [4, 12] },
      c: { dtype: 'F32', shape: [1], data_offsets: [12, 16] },
    };
    const shifted = new Uint8Array(16);
    shifted.set(big.subarray(8, 16), 4);
    expectError(
      () => loadSafetensorsFromBuffer(rawFile(header, shifted), 'f'),
      'RangeError',
      /f: tensor 'b' \(I64\): element 0 = 1099511627776 does not fit in int32/,
    );
    expectError(
      () =>
        loadSafetensorsFromBuffer(
          rawFile({ m: { dtype: 'BOOL', shape: [2], data_offsets: [0, 2] } }, Uint8Array.from([1, 2])),
          'f',
        ),
      'RangeError',
      /tensor 'm' \(BOOL\): element 1 is byte 2/,
    );
  });

  test('a non-buffer argument is a TypeError', () => {
    expectError(
      () => loadSafetensorsFromBuffer('abc' as unknown as Uint8Array),
      'TypeError',
      /must be a Buffer or Uint8Array/,
    );
  });
});

describe('atomic writes', () => {
  test('writeFileAtomic writes, replaces, and leaves no temporary file', () => {
    const file = path.join(dir, 'notes.txt');
    writeFileAtomic(file, 'first');
    writeFileAtomic(file, Buffer.from('second'));
    expect(fs.readFileSync(file, 'utf8')).toBe('second');
    expect(fs.readdirSync(dir)).toEqual(['notes.txt']);
  });

  test('a failed write removes its temporary file and keeps the target', () => {
    const target = path.join(dir, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside'), 'x');
    expect(() => writeFileAtomic(target, 'data')).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['occupied']);
    expect(() => writeFileAtomic(path.join(dir, 'no', 'such', 'dir', 'f'), 'x')).toThrow(/ENOENT/);
    expectError(() => writeFileAtomic('', 'x'), 'TypeError', /writeFileAtomic: path must be a non-empty string/);
    expectError(
      () => writeFileAtomic(path.join(dir, 'f'), 5 as unknown as string),
      'TypeError',
      /data must be a Uint8Array or a string/,
    );
  });

  test('replaceDirAtomic swaps a whole directory, and keeps the old one when fill throws', () => {
    const ckpt = path.join(dir, 'checkpoint');
    replaceDirAtomic(ckpt, (tmp) => {
      fs.writeFileSync(path.join(tmp, 'a.txt'), 'v1');
      fs.mkdirSync(path.join(tmp, 'sub'));
      fs.writeFileSync(path.join(tmp, 'sub', 'b.txt'), 'v1');
    });
    expect(fs.readFileSync(path.join(ckpt, 'sub', 'b.txt'), 'utf8')).toBe('v1');
    replaceDirAtomic(ckpt, (tmp) => fs.writeFileSync(path.join(tmp, 'c.txt'), 'v2'));
    expect(fs.readdirSync(ckpt)).toEqual(['c.txt']);
    expect(() =>
      replaceDirAtomic(ckpt, (tmp) => {
        fs.writeFileSync(path.join(tmp, 'partial.txt'), 'v3');
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(fs.readdirSync(ckpt)).toEqual(['c.txt']);
    expect(fs.readdirSync(dir)).toEqual(['checkpoint']);
  });

  test('recoverDir repairs every state an interrupted replaceDirAtomic can leave', () => {
    const ckpt = path.join(dir, 'ckpt');
    const previous = previousDirName(ckpt);
    // Killed between moving the old directory aside and moving the new one in: the old one comes back.
    fs.mkdirSync(previous);
    fs.writeFileSync(path.join(previous, 'weights'), 'old');
    const leftover = path.join(dir, '.ckpt.123-abc.tmpdir');
    fs.mkdirSync(leftover);
    expect(recoverDir(ckpt)).toBe(true);
    expect(fs.readFileSync(path.join(ckpt, 'weights'), 'utf8')).toBe('old');
    expect(fs.readdirSync(dir)).toEqual(['ckpt']);
    // Killed after the new directory was in place, before the old one was deleted: the new one stays.
    fs.mkdirSync(previous);
    expect(recoverDir(ckpt)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual(['ckpt']);
    // replaceDirAtomic recovers first, so the previous checkpoint is what it replaces.
    fs.renameSync(ckpt, previous);
    replaceDirAtomic(ckpt, (tmp) => fs.writeFileSync(path.join(tmp, 'weights'), 'new'));
    expect(fs.readFileSync(path.join(ckpt, 'weights'), 'utf8')).toBe('new');
    expect(fs.readdirSync(dir)).toEqual(['ckpt']);
  });

  test('replaceDirAtomic argument errors', () => {
    expectError(
      () => replaceDirAtomic('', () => undefined),
      'TypeError',
      /replaceDirAtomic: dir must be a non-empty string/,
    );
    expectError(
      () => replaceDirAtomic(path.join(dir, 'x'), null as unknown as () => void),
      'TypeError',
      /fill must be a function/,
    );
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, 'x');
    expectError(() => replaceDirAtomic(file, () => undefined), 'Error', /exists and is not a directory/);
  });
});
