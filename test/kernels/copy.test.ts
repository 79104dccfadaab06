// copyStrided: permutes, slices, concatenation, expand, int32 data, bounds checks.
import { addon } from '../../src/native';
import { emptyStorage, expectError, kernelPaths, onPath, storageOf } from '../helpers';
import { uniformArray } from './elementwise_util';

function contiguousStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** dst after copying src's view into dst's view, element by element. */
function copyRef(
  src: ArrayLike<number>,
  srcOffset: number,
  srcStrides: number[],
  dst: Float32Array,
  dstOffset: number,
  dstStrides: number[],
  shape: number[],
): Float32Array {
  const out = dst.slice();
  const n = shape.reduce((p, s) => p * s, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let s = srcOffset,
      d = dstOffset;
    for (let k = 0; k < shape.length; k++) {
      s += idx[k] * srcStrides[k];
      d += idx[k] * dstStrides[k];
    }
    out[d] = src[s];
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

function check(
  srcData: Float32Array,
  srcOffset: number,
  srcStrides: number[],
  dstSize: number,
  dstOffset: number,
  dstStrides: number[],
  shape: number[],
): void {
  const src = storageOf(srcData);
  const initial = new Float32Array(dstSize).fill(-7);
  const expected = copyRef(srcData, srcOffset, srcStrides, initial, dstOffset, dstStrides, shape);
  for (const path of kernelPaths()) {
    const dst = storageOf(initial);
    onPath(path, () => addon.copyStrided(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape));
    expect({
      shape,
      srcStrides,
      dstStrides,
      path,
      same: Array.from(dst.readFloat32(0, dstSize)).every((v, i) => Object.is(v, expected[i])),
    }).toEqual({ shape, srcStrides, dstStrides, path, same: true });
  }
}

describe('copyStrided', () => {
  test('contiguous copies, with offsets, of rank 1..5', () => {
    for (const shape of [[], [1], [7], [33, 5], [3, 5, 7], [2, 3, 1, 4, 5], [129, 257], [2, 1, 3, 2, 1, 3, 2, 3]]) {
      const n = shape.reduce((p, s) => p * s, 1);
      check(uniformArray(n + 3, n), 3, contiguousStrides(shape), n + 2, 2, contiguousStrides(shape), shape);
    }
  });

  test('permutes (transpose, [B,T,H,D] -> [B,H,T,D]) make a view contiguous', () => {
    check(uniformArray(33 * 7, 1), 0, [1, 33], 33 * 7, 0, [7, 1], [33, 7]);
    const [B, T, H, D] = [2, 7, 3, 5];
    check(
      uniformArray(B * T * H * D, 2),
      0,
      [T * H * D, D, H * D, 1],
      B * T * H * D,
      0,
      contiguousStrides([B, H, T, D]),
      [B, H, T, D],
    );
    // An 8-dim permute.
    const source = [2, 3, 2, 3, 2, 1, 2, 3];
    const perm = [7, 2, 0, 5, 1, 6, 3, 4];
    const viewShape = perm.map((p) => source[p]);
    const count = source.reduce((p, s) => p * s, 1);
    check(
      uniformArray(count, 7),
      0,
      perm.map((p) => contiguousStrides(source)[p]),
      count,
      0,
      contiguousStrides(viewShape),
      viewShape,
    );
    const big = [3, 129, 2, 50];
    const n = big.reduce((p, s) => p * s, 1);
    check(uniformArray(n, 3), 0, [129 * 100, 50, 100, 1], n, 0, contiguousStrides([3, 2, 129, 50]), [3, 2, 129, 50]);
  });

  test('slices and concatenation along a middle dim', () => {
    // x [4, 9, 5] -> x[:, 2:7, 1:4]
    check(uniformArray(4 * 9 * 5, 4), 2 * 5 + 1, [45, 5, 1], 4 * 5 * 3, 0, [15, 3, 1], [4, 5, 3]);
    // cat([a [3, 2, 4], b [3, 5, 4]], dim 1) into [3, 7, 4]: b lands at offset 2 * 4 with out's strides.
    check(uniformArray(60, 5), 0, [20, 4, 1], 84, 8, [28, 4, 1], [3, 5, 4]);
    check(uniformArray(24, 6), 0, [8, 4, 1], 84, 0, [28, 4, 1], [3, 2, 4]);
  });

  test('expand (stride-0 source dims) and zero-size shapes', () => {
    check(uniformArray(7, 7), 0, [0, 1], 5 * 7, 0, [7, 1], [5, 7]); // row broadcast
    check(uniformArray(5, 8), 0, [1, 0], 5 * 7, 0, [7, 1], [5, 7]); // column broadcast
    check(uniformArray(1, 9), 0, [0, 0, 0], 60, 0, [20, 5, 1], [3, 4, 5]); // scalar
    check(uniformArray(1, 9), 0, [0, 0], 4, 0, [2, 1], [0, 7]); // nothing to copy
    addon.copyStrided(emptyStorage(1), 1, [1], emptyStorage(1), 1, [1], [0]); // empty views at the end touch nothing
  });

  test('int32 data is copied bit for bit', () => {
    const ints = new Int32Array([1, -2, 2147483647, -2147483648, 0x7fc00001, 5]);
    const src = storageOf(ints);
    const dst = emptyStorage(6);
    addon.copyStrided(src, 0, [1, 3], dst, 0, [2, 1], [3, 2]);
    expect(Array.from(dst.readInt32(0, 6))).toEqual([1, -2147483648, -2, 0x7fc00001, 2147483647, 5]);
  });

  test('rejects views reaching outside their storage and bad arguments', () => {
    const src = storageOf(uniformArray(12, 1));
    const dst = emptyStorage(12);
    expectError(
      () => addon.copyStrided(src, 1, [4, 1], dst, 0, [4, 1], [3, 4]),
      'RangeError',
      /copyStrided: src holds 12/,
    );
    expectError(
      () => addon.copyStrided(src, 0, [4, 1], dst, 0, [1, 4], [3, 4]),
      'RangeError',
      /copyStrided: dst holds 12/,
    );
    expectError(
      () => addon.copyStrided(src, 0, [4, -1], dst, 0, [4, 1], [3, 4]),
      'RangeError',
      /copyStrided: srcStrides\[1\]/,
    );
    expectError(
      () => addon.copyStrided(src, 0, [4], dst, 0, [4, 1], [3, 4]),
      'RangeError',
      /copyStrided: srcStrides has 1 entries/,
    );
    expectError(
      () => addon.copyStrided(src, 0, [4, 1], dst, 0, [4, 1], [3, NaN]),
      'RangeError',
      /copyStrided: shape\[1\]/,
    );
    expectError(
      () => addon.copyStrided(src, -1, [4, 1], dst, 0, [4, 1], [3, 4]),
      'RangeError',
      /copyStrided: srcOffset/,
    );
    expectError(
      () => addon.copyStrided(src, 0, [2 ** 49, 1], dst, 0, [4, 1], [2 ** 20, 4]),
      'RangeError',
      /copyStrided/,
    );
    expectError(
      () => addon.copyStrided(src, 0, [1], dst, 0, [1], new Array(9).fill(1)),
      'RangeError',
      /copyStrided: shape has 9 entries/,
    );
    const gone = emptyStorage(12);
    gone.dispose();
    expectError(
      () => addon.copyStrided(src, 0, [1], gone, 0, [1], [12]),
      'TypeError',
      /copyStrided: dst is used after dispose/,
    );
  });
});
