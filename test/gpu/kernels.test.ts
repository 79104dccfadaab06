// Every CUDA kernel against its CPU twin on the same random inputs at odd sizes: the raw addon functions are
// called with identical arguments on both devices. Skipped where no CUDA device is usable.
import type { AttentionView, BinaryOp, NativeStorage, ReduceOp, UnaryOp } from '../../src/native';
import { expectError, randomArray } from '../helpers';
import { describeGpu, expectClose, expectEqual, gpu, Kernels, normError, onBoth, randomInts } from './twins';

const FP32 = 1e-5;
const TF32 = 1e-3;
const BF16 = 1e-2;

describeGpu('CUDA gemm (TF32 tensor cores)', () => {
  const shapes: Array<[number, number, number]> = [
    // Odd sizes take the element-wise loads; multiples of 4 along a contiguous extent take 16-byte loads.
    [1, 1, 1],
    [7, 13, 5],
    [65, 129, 33],
    [130, 257, 100],
    [300, 17, 1000],
    [128, 128, 32],
    [1, 300, 77],
    [36, 44, 28],
    [130, 260, 100],
    [256, 384, 96],
  ];
  for (const [M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        test(`M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, () => {
          const a = randomArray(M * K, 1),
            b = randomArray(K * N, 2);
          const r = onBoth([a, b], [{ n: M * N }], (k, [sa, sb, sc]) =>
            k.gemm(sa, 0, sb, 0, sc, 0, null, 0, transA, transB, M, N, K, 1, 0, 0, 0, 1, 0),
          );
          expectClose(r, TF32);
        });
      }
    }
  }

  test('batched, strided, alpha/beta and bias, with offsets', () => {
    const [M, N, K, batch] = [37, 45, 29, 3];
    const a = randomArray(5 + batch * (M * K + 3), 3),
      b = randomArray(2 + batch * K * N, 4);
    const bias = randomArray(1 + N, 5),
      c0 = randomArray(7 + batch * M * N, 6);
    const r = onBoth([a, b, bias], [{ n: c0.length, init: c0 }], (k, [sa, sb, sbias, sc]) =>
      k.gemm(sa, 5, sb, 2, sc, 7, sbias, 1, false, true, M, N, K, batch, M * K + 3, K * N, M * N, 0.7, 0.3),
    );
    expectClose(r, TF32);
  });

  test('batched with 16-byte aligned operands and strides, both transposed', () => {
    const [M, N, K, batch] = [36, 44, 28, 3];
    const a = randomArray(batch * M * K, 17),
      b = randomArray(batch * K * N, 18),
      c0 = randomArray(batch * M * N, 19);
    const r = onBoth([a, b], [{ n: c0.length, init: c0 }], (k, [sa, sb, sc]) =>
      k.gemm(sa, 0, sb, 0, sc, 0, null, 0, true, true, M, N, K, batch, M * K, K * N, M * N, 1.5, -1),
    );
    expectClose(r, TF32);
  });

  test('strideC = 0 accumulates the batches in order; stride 0 operands broadcast', () => {
    const [M, N, K, batch] = [20, 33, 17, 4];
    const a = randomArray(batch * M * K, 7),
      b = randomArray(K * N, 8),
      c0 = randomArray(M * N, 9);
    const r = onBoth([a, b], [{ n: M * N, init: c0 }], (k, [sa, sb, sc]) =>
      k.gemm(sa, 0, sb, 0, sc, 0, null, 0, false, false, M, N, K, batch, M * K, 0, 0, 1, 1),
    );
    expectClose(r, TF32);
  });

  test('K = 0 gives beta * C + bias; empty products do nothing', () => {
    const c0 = randomArray(6, 10),
      bias = randomArray(3, 11);
    const r = onBoth([new Float32Array(1), new Float32Array(1), bias], [{ n: 6, init: c0 }], (k, [sa, sb, sbias, sc]) =>
      k.gemm(sa, 0, sb, 0, sc, 0, sbias, 0, false, false, 2, 3, 0, 1, 0, 0, 0, 1, 0.5),
    );
    expectClose(r, FP32);
  });
});

/** float32 -> bfloat16 -> float32, round to nearest even (the reference for the BF16 GEMM's inputs). */
function roundToBf16(x: Float32Array): Float32Array {
  const bits = new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  for (let i = 0; i < bits.length; i++) {
    const v = bits[i];
    bits[i] = (((v + 0x7fff + ((v >>> 16) & 1)) >>> 16) << 16) >>> 0;
  }
  return new Float32Array(bits.buffer);
}

describeGpu('CUDA BF16 GEMM and casts', () => {
  test('castToBf16 / castFromBf16 round to nearest even', () => {
    const x = randomArray(1001, 12, -100, 100);
    const g = gpu();
    const src = new g.Storage(x.length * 4),
      back = new g.Storage(x.length * 4);
    const half = new g.Storage(Math.ceil(x.length / 2) * 4);
    src.write(x, 0);
    g.castToBf16(src, half, x.length);
    g.castFromBf16(half, back, x.length);
    expect(Array.from(back.readFloat32(0, x.length))).toEqual(Array.from(roundToBf16(x)));
    for (const s of [src, half, back]) s.dispose();
  });

  for (const [M, N, K, transA, transB] of [
    [67, 45, 130, false, false],
    [128, 256, 64, false, true],
    [33, 70, 19, true, false],
    [5, 9, 300, true, true],
    [64, 72, 48, true, true],
    [40, 24, 80, false, false],
  ] as Array<[number, number, number, boolean, boolean]>) {
    test(`M=${M} N=${N} K=${K} transA=${transA} transB=${transB} with bias, alpha and beta`, () => {
      const g = gpu();
      const a = randomArray(M * K, 13),
        b = randomArray(K * N, 14);
      const bias = randomArray(N, 15),
        c0 = randomArray(M * N, 16);
      const toBf16 = (x: Float32Array): NativeStorage => {
        const f = new g.Storage(x.length * 4),
          h = new g.Storage(Math.ceil(x.length / 2) * 4);
        f.write(x, 0);
        g.castToBf16(f, h, x.length);
        f.dispose();
        return h;
      };
      const sa = toBf16(a),
        sb = toBf16(b),
        sbias = new g.Storage(N * 4),
        sc = new g.Storage(M * N * 4);
      sbias.write(bias, 0);
      sc.write(c0, 0);
      g.gemmBf16(sa, 0, sb, 0, sc, 0, sbias, 0, transA, transB, M, N, K, 1, 0, 0, 0, 0.5, 0.25);
      const got = sc.readFloat32(0, M * N);
      for (const s of [sa, sb, sbias, sc]) s.dispose();
      // Against the CPU on the same bf16-rounded inputs (exact products: only the summation order differs)...
      const exact = onBoth([roundToBf16(a), roundToBf16(b), bias], [{ n: M * N, init: c0 }], (k, [xa, xb, xbias, xc]) =>
        k.gemm(xa, 0, xb, 0, xc, 0, xbias, 0, transA, transB, M, N, K, 1, 0, 0, 0, 0.5, 0.25),
      );
      expect(normError(got, exact.cpu[0])).toBeLessThan(1e-4);
      // ...and against float32 inputs, within bf16 precision.
      const full = onBoth([a, b, bias], [{ n: M * N, init: c0 }], (k, [xa, xb, xbias, xc]) =>
        k.gemm(xa, 0, xb, 0, xc, 0, xbias, 0, transA, transB, M, N, K, 1, 0, 0, 0, 0.5, 0.25),
      );
      expect(normError(got, full.cpu[0])).toBeLessThan(BF16);
    });
  }

  test('gemmBf16 checks its storages', () => {
    const g = gpu();
    const s = new g.Storage(8);
    expectError(
      () => g.gemmBf16(s, 0, s, 0, s, 0, null, 0, false, false, 4, 4, 4, 1, 0, 0, 0, 1, 0),
      'RangeError',
      /A holds 4 bfloat16/,
    );
    s.dispose();
  });
});

// ---- attention -------------------------------------------------------------------------------------------------

interface AttnCase {
  name: string;
  B: number;
  H: number;
  Tq: number;
  Tk: number;
  D: number;
  causal?: boolean;
  causalOffset?: number;
  padding?: boolean;
  mask?: 'full' | 'broadcast';
  dropoutP?: number;
  weights?: boolean;
  packed?: boolean;
}

const attnCases: AttnCase[] = [
  { name: 'plain, Tq != Tk, odd D', B: 2, H: 3, Tq: 37, Tk: 53, D: 24 },
  { name: 'causal', B: 1, H: 2, Tq: 70, Tk: 70, D: 64, causal: true },
  { name: 'causal with a KV-cache offset', B: 2, H: 2, Tq: 5, Tk: 69, D: 40, causal: true, causalOffset: 64 },
  { name: 'causal hiding the first rows entirely', B: 1, H: 2, Tq: 40, Tk: 30, D: 16, causal: true, causalOffset: -3 },
  { name: 'key padding', B: 3, H: 2, Tq: 33, Tk: 47, D: 32, padding: true },
  { name: 'additive mask per head', B: 2, H: 2, Tq: 19, Tk: 66, D: 8, mask: 'full' },
  { name: 'additive mask broadcast over batch and heads', B: 2, H: 3, Tq: 65, Tk: 31, D: 20, mask: 'broadcast' },
  { name: 'dropout (same Philox draws as the CPU)', B: 2, H: 2, Tq: 41, Tk: 77, D: 36, dropoutP: 0.3 },
  { name: 'D = 100 (128-wide kernel)', B: 1, H: 2, Tq: 67, Tk: 35, D: 100, causal: true },
  { name: 'D = 200 (256-wide kernel)', B: 1, H: 1, Tq: 20, Tk: 70, D: 200, padding: true },
  { name: 'attention weights', B: 2, H: 1, Tq: 30, Tk: 90, D: 12, causal: true, mask: 'full', weights: true },
  { name: 'packed [B, T, 3, H, D] views', B: 2, H: 3, Tq: 45, Tk: 45, D: 16, packed: true, causal: true },
];

describeGpu('CUDA flash attention forward and backward', () => {
  for (const c of attnCases) {
    test(c.name, () => {
      const { B, H, Tq, Tk, D } = c;
      const scale = 1 / Math.sqrt(D);
      const contiguous = (T: number): AttentionView => [0, H * T * D, T * D, D];
      let qkv: Float32Array[];
      let views: AttentionView[];
      if (c.packed) {
        const row = 3 * H * D;
        qkv = [randomArray(B * Tq * row, 20)];
        views = [
          [0, Tq * row, D, row],
          [H * D, Tq * row, D, row],
          [2 * H * D, Tq * row, D, row],
        ];
      } else {
        qkv = [
          randomArray(B * H * Tq * D, 21, -2, 2),
          randomArray(B * H * Tk * D, 22, -2, 2),
          randomArray(B * H * Tk * D, 23),
        ];
        views = [contiguous(Tq), contiguous(Tk), contiguous(Tk)];
      }
      const outView: AttentionView = c.packed ? [0, Tq * H * D, D, H * D] : contiguous(Tq);
      const dout = randomArray(B * H * Tq * D, 24);
      const padding = new Int32Array(B * Tk);
      if (c.padding) for (let i = 0; i < padding.length; i++) padding[i] = (i * 7) % 5 === 0 ? 1 : 0;
      let mask: Float32Array = new Float32Array(1);
      let maskView: [number, number, number, number] = [0, 0, 0, 0];
      if (c.mask === 'full') {
        mask = randomArray(B * H * Tq * Tk, 25, -3, 1);
        for (let i = 0; i < mask.length; i += 11) mask[i] = -Infinity;
        maskView = [0, H * Tq * Tk, Tq * Tk, Tk];
      } else if (c.mask === 'broadcast') {
        mask = randomArray(3 + Tq * Tk, 26);
        maskView = [3, 0, 0, Tk];
      }
      const qkvSize = qkv[0].length;
      const inputs = [...qkv, dout, padding, mask];
      const n = B * H * Tq * D;
      const outputs = [
        { n },
        { n: B * H * Tq },
        { n: qkvSize },
        { n: c.packed ? qkvSize : qkv[1].length },
        { n: c.packed ? qkvSize : qkv[2].length },
        { n: c.weights ? B * H * Tq * Tk : 1 },
      ];
      const r = onBoth(inputs, outputs, (k, s) => {
        const [q, kk, v] = c.packed ? [s[0], s[0], s[0]] : [s[0], s[1], s[2]];
        const rest = s.slice(qkv.length);
        const [sdout, spad, smask, out, lse, dq, dk, dv, weights] = rest;
        const options = [
          scale,
          c.causal ?? false,
          c.causalOffset ?? 0,
          c.padding ? spad : null,
          c.mask ? smask : null,
          maskView,
          c.dropoutP ?? 0,
          1234,
        ] as const;
        k.attentionForward(
          q,
          kk,
          v,
          out,
          lse,
          c.weights ? weights : null,
          B,
          H,
          Tq,
          Tk,
          D,
          views[0],
          views[1],
          views[2],
          outView,
          ...options,
        );
        k.attentionBackward(
          q,
          kk,
          v,
          out,
          sdout,
          lse,
          dq,
          dk,
          dv,
          B,
          H,
          Tq,
          Tk,
          D,
          views[0],
          views[1],
          views[2],
          outView,
          ...options,
        );
      });
      // lse may hold +Infinity for fully masked rows: those must match exactly, the rest within FP32.
      expectClose(r, FP32);
    });
  }

  test('D above 256 is refused with a clear error', () => {
    const g = gpu();
    const s = new g.Storage(4 * 300 * 4);
    const lse = new g.Storage(16);
    const view: AttentionView = [0, 300, 300, 300];
    expectError(
      () =>
        g.attentionForward(
          s,
          s,
          s,
          s,
          lse,
          null,
          1,
          1,
          1,
          1,
          300,
          view,
          view,
          view,
          view,
          1,
          false,
          0,
          null,
          null,
          [0, 0, 0, 0],
          0,
          0,
        ),
      'Error',
      /head size D = 300/,
    );
    s.dispose();
    lse.dispose();
  });
});

// ---- norms --------------------------------------------------------------------------------------------------

describeGpu('CUDA layernorm, softmax, cross-entropy', () => {
  for (const [N, C] of [
    [1, 1],
    [37, 33],
    [5, 769],
    [300, 64],
  ]) {
    for (const affine of [true, false]) {
      test(`layernorm N=${N} C=${C} affine=${affine}`, () => {
        const x = randomArray(N * C, 30, -3, 5),
          dout = randomArray(N * C, 33);
        const w = randomArray(C, 31),
          b = randomArray(C, 32);
        const r = onBoth(
          [x, w, b, dout],
          [{ n: N * C }, { n: N }, { n: N }, { n: N * C }, { n: C }, { n: C }],
          (k, [sx, sw, sb, sd, out, mean, rstd, dx, dw, db]) => {
            k.layerNormForward(sx, affine ? sw : null, affine ? sb : null, out, mean, rstd, N, C, 1e-5);
            k.layerNormBackward(
              sd,
              sx,
              affine ? sw : null,
              mean,
              rstd,
              dx,
              affine ? dw : null,
              affine ? db : null,
              N,
              C,
            );
          },
        );
        expectClose(r, FP32);
      });
    }
  }

  for (const [outer, dim, inner] of [
    [1, 1, 1],
    [33, 17, 1],
    [4, 1000, 1],
    [3, 9, 5],
    [2, 300, 7],
  ]) {
    for (const log of [false, true]) {
      test(`${log ? 'log-' : ''}softmax [${outer}, ${dim}, ${inner}]`, () => {
        const n = outer * dim * inner;
        const x = randomArray(n, 40, -8, 8),
          dy = randomArray(n, 41);
        const r = onBoth([x, dy], [{ n }, { n }], (k, [sx, sdy, y, dx]) => {
          k.softmaxForward(sx, y, outer, dim, inner, log);
          k.softmaxBackward(y, sdy, dx, outer, dim, inner, log);
        });
        expectClose(r, FP32);
      });
    }
  }

  for (const [N, C, smoothing] of [
    [1, 1, 0],
    [37, 11, 0],
    [20, 5000, 0.1],
    [64, 33, 1],
  ]) {
    test(`cross-entropy N=${N} C=${C} labelSmoothing=${smoothing} with ignored rows`, () => {
      const logits = randomArray(N * C, 50, -6, 6),
        dl = randomArray(N, 51);
      const targets = randomInts(N, 52, 0, C);
      for (let i = 0; i < N; i += 4) targets[i] = -100;
      const outputs = [{ n: N }, { n: N }, { n: N * C }];
      const r = onBoth([logits, targets, dl], outputs, (k, [sl, st, sdl, losses, lse, dx]) => {
        k.crossEntropyForward(sl, st, losses, lse, N, C, -100, smoothing);
        k.crossEntropyBackward(sl, st, lse, sdl, dx, N, C, -100, smoothing);
      });
      expectClose(r, FP32);
    });
  }

  test('cross-entropy names a bad target read from device memory', () => {
    const g = gpu();
    const logits = new g.Storage(6 * 4 * 4),
      targets = new g.Storage(6 * 4);
    const out = new g.Storage(6 * 4),
      lse = new g.Storage(6 * 4);
    targets.write(new Int32Array([0, 1, 2, 99, 3, -7]), 0);
    expectError(
      () => g.crossEntropyForward(logits, targets, out, lse, 6, 4, -100, 0),
      'RangeError',
      /targets\[3\] = 99/,
    );
    for (const s of [logits, targets, out, lse]) s.dispose();
  });
});

// ---- element-wise, reductions, indexing, copies ----------------------------------------------------------------

describeGpu('CUDA element-wise kernels', () => {
  const binaryOps: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'];
  for (const op of binaryOps) {
    test(`binary ${op} with broadcasting`, () => {
      const shape = [3, 5, 7];
      const a = randomArray(3 * 5 * 7, 60, op === 'pow' ? 0.1 : -2, 2),
        b = randomArray(5, 61, 0.5, 2);
      a[4] = NaN;
      const r = onBoth([a, b], [{ n: 105 }], (k, [sa, sb, out]) =>
        k.binary(op, sa, 0, [35, 7, 1], sb, 0, [0, 1, 0], out, shape),
      );
      expectClose(r, FP32);
      const r2 = onBoth([a, a], [{ n: 105 }], (k, [sa, sb, out]) =>
        k.binary(op, sa, 0, [35, 7, 1], sb, 0, [35, 7, 1], out, shape),
      );
      expectClose(r2, FP32);
    });
  }

  const unaryOps: Array<[UnaryOp, number]> = [
    ['neg', 0],
    ['exp', 0],
    ['log', 0],
    ['sqrt', 0],
    ['tanh', 0],
    ['relu', 0],
    ['sigmoid', 0],
    ['gelu', 0],
    ['geluTanh', 0],
    ['abs', 0],
    ['scale', 1.7],
    ['addScalar', -0.3],
    ['powScalar', 2],
    ['powScalar', 3.5],
    ['powScalar', 0],
  ];
  for (const [op, param] of unaryOps) {
    test(`unary ${op}(${param}) forward and backward`, () => {
      const positive = op === 'log' || op === 'sqrt' || (op === 'powScalar' && param === 3.5);
      const x = randomArray(1001, 62, positive ? 0.05 : -5, 5),
        dy = randomArray(1001, 63);
      const r = onBoth([x, dy], [{ n: 1001 }, { n: 1001 }], (k, [sx, sdy, y, dx]) => {
        k.unary(op, sx, y, 1001, param);
        k.unaryBackward(op, sx, y, sdy, dx, 1001, param);
      });
      expectClose(r, FP32);
    });
  }

  test('fill and casts (truncation, NaN -> 0, saturation)', () => {
    const f = new Float32Array([1.9, -1.9, NaN, 3e9, -3e9, 0.5, -0.5, 2147483520]);
    const i = new Int32Array([0, -1, 2147483647, -2147483648, 12345]);
    const r = onBoth([f, i], [{ n: 8, int: true }, { n: 5 }, { n: 37 }], (k, [sf, si, fi, iff, filled]) => {
      k.cast(sf, fi, 8, false);
      k.cast(si, iff, 5, true);
      k.fill(filled, 3, 30, -Infinity);
    });
    expectEqual(r);
  });

  // [shape, mask shape]: the mask broadcasts (size-1 dims read with stride 0), odd sizes, up to 8 dims.
  const maskCases: Array<{ shape: number[]; maskShape: number[] }> = [
    { shape: [1], maskShape: [1] },
    { shape: [7], maskShape: [7] },
    { shape: [3, 5, 7], maskShape: [1, 1, 7] },
    { shape: [3, 5, 7], maskShape: [3, 1, 7] },
    { shape: [3, 5, 7], maskShape: [3, 5, 1] },
    { shape: [2, 65, 129], maskShape: [2, 65, 129] },
    { shape: [2, 3, 1, 5, 1, 3, 2, 3], maskShape: [1, 3, 1, 1, 1, 3, 1, 3] },
    { shape: [4097, 3], maskShape: [1, 3] },
  ];
  for (const { shape, maskShape } of maskCases) {
    test(`maskedFill ${JSON.stringify(shape)} with a ${JSON.stringify(maskShape)} mask, also in place`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const m = maskShape.reduce((a, b) => a * b, 1);
      const x = randomArray(n, 64);
      const mask = randomInts(m, 65, -2, 3); // zeros and nonzeros of either sign
      // Contiguous strides of the mask, 0 where it broadcasts.
      const strides = new Array<number>(shape.length);
      for (let d = shape.length - 1, s = 1; d >= 0; d--) {
        strides[d] = maskShape[d] === 1 ? 0 : s;
        s *= maskShape[d];
      }
      const r = onBoth([x, mask], [{ n }, { n, init: x }], (k, [sx, smask, out, inPlace]) => {
        k.maskedFill(sx, smask, 0, strides, out, shape, -Infinity);
        k.maskedFill(inPlace, smask, 0, strides, inPlace, shape, 2.5);
      });
      expectEqual(r);
      // And against the plain definition, not only the CPU twin.
      const expected = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let rest = i,
          offset = 0;
        for (let d = shape.length - 1; d >= 0; d--) {
          offset += (rest % shape[d]) * strides[d];
          rest = Math.floor(rest / shape[d]);
        }
        expected[i] = mask[offset] !== 0 ? -Infinity : x[i];
      }
      expect(normError(r.gpu[0], expected)).toBe(0);
    });
  }

  test('maskedFill reads the mask from an offset', () => {
    const x = randomArray(15, 66);
    const mask = randomInts(9, 67, 0, 2);
    const r = onBoth([x, mask], [{ n: 15 }], (k, [sx, smask, out]) =>
      k.maskedFill(sx, smask, 4, [1, 0], out, [5, 3], 7),
    );
    expectEqual(r);
  });

  for (const n of [1, 7, 1001, 70001]) {
    test(`compareScalar eq/ne on float32 and int32, n = ${n}`, () => {
      const f = randomArray(n, 68, -2, 2).map((v) => Math.round(v * 2) / 2);
      f.set([NaN, -0, Infinity, 16777218].slice(0, n), 0);
      const i = randomInts(n, 69, -3, 4);
      i.set([16777217, 2147483647, -2147483648].slice(0, n), 0);
      for (const op of ['eq', 'ne'] as const) {
        const r = onBoth(
          [f, i],
          [
            { n, int: true },
            { n, int: true },
            { n, int: true },
          ],
          (k, [sf, si, a, b, c]) => {
            k.compareScalar(op, sf, a, n, false, 0.5);
            k.compareScalar(op, si, b, n, true, 16777216);
            k.compareScalar(op, si, c, n, true, -3);
          },
        );
        expectEqual(r);
        const plain = (src: ArrayLike<number>, value: number): number[] =>
          Array.from(src, (v) => ((v === value) === (op === 'eq') ? 1 : 0));
        expect(Array.from(r.gpu[0])).toEqual(plain(f, 0.5));
        expect(Array.from(r.gpu[1])).toEqual(plain(i, 16777216));
        expect(Array.from(r.gpu[2])).toEqual(plain(i, -3));
      }
    });
  }
});

describeGpu('CUDA reductions, indexing and copies', () => {
  const reduceOps: ReduceOp[] = ['sum', 'mean', 'max', 'min', 'argmax'];
  for (const op of reduceOps) {
    for (const [outer, dim, inner] of [
      [1, 1, 1],
      [7, 300, 1],
      [3, 33, 5],
      [2, 5, 129],
    ]) {
      test(`reduce ${op} [${outer}, ${dim}, ${inner}] (ties and NaN)`, () => {
        const n = outer * dim * inner;
        const x = randomArray(n, 70);
        for (let i = 0; i < n; i += 13) x[i] = 0.5; // ties: the first winner is kept
        if (n > 40) x[40] = NaN;
        const rows = outer * inner;
        const r = onBoth([x], [{ n: rows }, { n: rows, int: true }], (k, [sx, out, idx]) =>
          k.reduce(op, sx, op === 'argmax' ? null : out, op === 'sum' || op === 'mean' ? null : idx, outer, dim, inner),
        );
        expectClose(r, FP32, op === 'sum' ? dim / 2 : 0.5); // |x| averages 1/2
        if (op !== 'sum' && op !== 'mean') expectEqual({ cpu: [r.cpu[1]], gpu: [r.gpu[1]] });
      });
    }
  }

  test('indexBackward scatters and checks indices on the device', () => {
    const [outer, dim, inner] = [4, 9, 6];
    const dy = randomArray(outer * inner, 71),
      idx = randomInts(outer * inner, 72, 0, dim);
    const r = onBoth([dy, idx], [{ n: outer * dim * inner }], (k, [sdy, si, dx]) =>
      k.indexBackward(sdy, si, dx, outer, dim, inner),
    );
    expectEqual(r);
    const g = gpu();
    const sdy = new g.Storage(4 * 4),
      si = new g.Storage(4 * 4),
      dx = new g.Storage(4 * 9 * 4);
    si.write(new Int32Array([0, 3, -1, 2]), 0);
    expectError(() => g.indexBackward(sdy, si, dx, 4, 9, 1), 'RangeError', /indices\[2\] = -1 is outside \[0, 9\)/);
    for (const s of [sdy, si, dx]) s.dispose();
  });

  for (const [xShape, outShape] of [
    [
      [6, 7],
      [1, 7],
    ],
    [
      [6, 7],
      [6, 1],
    ],
    [
      [5000, 3],
      [1, 3],
    ],
    [
      [2, 3, 4, 5],
      [2, 1, 4, 1],
    ],
    [
      [3, 1, 5],
      [1, 1, 1],
    ],
    [
      [300, 40],
      [1, 1],
    ],
    [
      [4096, 2],
      [4096, 1],
    ],
    [
      [0, 4],
      [1, 4],
    ],
  ]) {
    test(`sumToShape [${xShape}] -> [${outShape}]`, () => {
      const xn = xShape.reduce((p, d) => p * d, 1),
        on = outShape.reduce((p, d) => p * d, 1);
      const x = randomArray(xn, 73);
      const r = onBoth([x], [{ n: on, init: randomArray(on, 74) }], (k, [sx, out]) =>
        k.sumToShape(sx, xShape, out, outShape),
      );
      // Each output sums xn / on terms of mean size 1/2.
      expectClose(r, FP32, Math.max(1e-6, xn / Math.max(on, 1) / 2));
    });
  }

  test('embedding forward and backward (repeated ids, paddingIdx) and id checks', () => {
    const [N, V, C] = [50, 13, 37];
    const weight = randomArray(V * C, 75),
      ids = randomInts(N, 76, 0, V),
      dout = randomArray(N * C, 77);
    const r = onBoth([weight, ids, dout], [{ n: N * C }, { n: V * C }], (k, [sw, si, sd, out, dw]) => {
      k.embeddingForward(sw, si, out, N, V, C);
      k.embeddingBackward(sd, si, dw, N, V, C, 3);
    });
    expectClose(r, FP32);
    const g = gpu();
    const sw = new g.Storage(V * C * 4),
      si = new g.Storage(3 * 4),
      out = new g.Storage(3 * C * 4);
    si.write(new Int32Array([1, 13, 2]), 0);
    expectError(() => g.embeddingForward(sw, si, out, 3, V, C), 'RangeError', /ids\[1\] = 13 is outside \[0, V = 13\)/);
    for (const s of [sw, si, out]) s.dispose();
  });

  test('copyStrided: a permute, a broadcast and int32 bits', () => {
    const x = randomArray(2 * 3 * 4, 78);
    const r = onBoth([x], [{ n: 24 }, { n: 2 + 3 * 8 }], (k, [sx, perm, wide]) => {
      k.copyStrided(sx, 0, [12, 1, 4], perm, 0, [12, 4, 1], [2, 4, 3]);
      k.copyStrided(sx, 5, [0, 1], wide, 2, [8, 1], [3, 8]);
    });
    expectEqual(r);
    const ints = randomInts(30, 79, -1e9, 1e9);
    const r2 = onBoth([ints], [{ n: 30, int: true }], (k, [src, dst]) =>
      k.copyStrided(src, 0, [1, 10], dst, 0, [3, 1], [10, 3]),
    );
    expectEqual(r2);
  });
});

describeGpu('CUDA random numbers, dropout and AdamW', () => {
  test('uniform fills are identical to the CPU for a seed', () => {
    const r = onBoth([], [{ n: 10001 }, { n: 777 }], (k, [u, v]) => {
      k.randomFill(u, 10001, 'uniform', 42, -2, 3);
      k.randomFill(v, 777, 'uniform', 2 ** 40 + 5, 0, 1);
    });
    expectEqual(r);
  });

  test('normal fills agree with the CPU (same draws, float Box-Muller)', () => {
    const r = onBoth([], [{ n: 10001 }], (k, [u]) => k.randomFill(u, 10001, 'normal', 7, 0.5, 2));
    expectClose(r, 1e-6);
  });

  test('dropout draws the same mask as the CPU', () => {
    const x = randomArray(5003, 80);
    for (const p of [0, 0.1, 0.5, 1]) {
      const r = onBoth([x], [{ n: 5003 }], (k, [sx, out]) => k.dropout(sx, out, 5003, p, 99));
      expectEqual(r);
    }
  });

  test('AdamW steps match the CPU', () => {
    const n = 3001;
    const param = randomArray(n, 81),
      grads = [randomArray(n, 82), randomArray(n, 83), randomArray(n, 84)];
    const r = onBoth([...grads], [{ n, init: param }, { n }, { n }], (k, [g1, g2, g3, p, m, v]) => {
      [g1, g2, g3].forEach((g, i) => k.adamwStep(p, g, m, v, n, 1e-2, 0.9, 0.999, 1e-8, 0.1, i + 1));
    });
    expectClose(r, FP32);
  });
});

describeGpu('CUDA storages', () => {
  test('write, read and copyFrom (overlapping ranges behave as memmove)', () => {
    const g = gpu();
    const s = new g.Storage(10 * 4);
    s.write(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 0);
    s.copyFrom(s, 0, 2, 6);
    expect(Array.from(s.readFloat32(0, 10))).toEqual([0, 1, 0, 1, 2, 3, 4, 5, 8, 9]);
    const t = new g.Storage(3 * 4);
    t.copyFrom(s, 7, 0, 3);
    expect(Array.from(t.readFloat32(0, 3))).toEqual([5, 8, 9]);
    const zeroed = new g.Storage(8);
    expect(Array.from(zeroed.readInt32(0, 2))).toEqual([0, 0]);
    zeroed.dispose();
    expectError(() => s.readFloat32(8, 3), 'RangeError', /count/);
    s.dispose();
    t.dispose();
    expectError(() => s.readFloat32(0, 1), 'TypeError', /disposed/);
  });

  test('memoryStats counts device storages', () => {
    const g = gpu() as unknown as Kernels;
    const before = g.memoryStats();
    const s = new g.Storage(1 << 20);
    expect(g.memoryStats().bytes - before.bytes).toBe(1 << 20);
    s.dispose();
    expect(g.memoryStats()).toEqual(before);
  });
});
