import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { addon } from '../../src/native';
import { expectError, storageOf } from '../helpers';

describe('addon basics', () => {
  test('storage round-trips float32 and int32 data', () => {
    const s = storageOf(new Float32Array([1.5, -2, 3]));
    expect(Array.from(s.readFloat32(0, 3))).toEqual([1.5, -2, 3]);
    s.write(new Int32Array([7, -9]), 1);
    expect(Array.from(s.readInt32(1, 2))).toEqual([7, -9]);
    expect(s.byteLength).toBe(12);
    s.dispose();
    expect(s.disposed).toBe(true);
  });

  test('storage rejects bad sizes and use after dispose', () => {
    expectError(() => new addon.Storage(-4), 'RangeError', /byteLength must be in/);
    expect(() => new addon.Storage(NaN)).toThrow(/Storage: byteLength must be an integer/);
    expectError(() => new addon.Storage(1.5), 'RangeError');
    expectError(() => new addon.Storage('8' as never), 'TypeError', /must be a number/);
    const s = new addon.Storage(8);
    expect(() => s.readFloat32(1, 2)).toThrow(/count must be in \[0, 1\]/);
    expect(() => s.write(new Float32Array(3), 0)).toThrow(/3 elements but only 2 fit/);
    s.dispose();
    expect(() => s.readFloat32(0, 1)).toThrow(/disposed/);
    expect(() => s.write(new Float32Array(1), 0)).toThrow(/disposed/);
  });

  test('kernels take only objects the Storage constructor made', () => {
    const out = new addon.Storage(4);
    const lookalike = Object.create(addon.Storage.prototype);
    expect(lookalike instanceof addon.Storage).toBe(true);
    expectError(() => addon.fill(lookalike, 0, 1, 0), 'TypeError', /fill: dst must be a Storage, got an object/);
    expectError(() => addon.fill({ byteLength: 4 } as never, 0, 1, 0), 'TypeError', /fill: dst must be a Storage/);
    addon.fill(out, 0, 1, 2.5);
    expect(Array.from(out.readFloat32(0, 1))).toEqual([2.5]);
    out.dispose();
  });

  test('thread count and ISA can be changed and restored', () => {
    const threads = addon.getNumThreads();
    addon.setNumThreads(1);
    expect(addon.getNumThreads()).toBe(1);
    addon.setNumThreads(threads);
    expectError(() => addon.setNumThreads(0), 'RangeError', /setNumThreads: n must be in/);
    expect(addon.supportedIsas()).toContain('generic');
    const isa = addon.getIsa();
    addon.setIsa('generic');
    expect(addon.getIsa()).toBe('generic');
    addon.setIsa(isa);
    expect(() => addon.setIsa('sse9' as never)).toThrow(/isa must be/);
    if (!addon.supportedIsas().includes('avx512'))
      expectError(() => addon.setIsa('avx512'), 'RangeError', /cannot run the 'avx512' path/);
  });
});

describe('environment overrides', () => {
  const probe = (env: Record<string, string>) =>
    execFileSync(
      process.execPath,
      [
        '-e',
        `const a = require('node-gyp-build')(${JSON.stringify(path.join(__dirname, '..', '..'))}); console.log(a.getIsa(), a.getNumThreads())`,
      ],
      {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      },
    ).trim();

  test('TN_ISA=generic forces the portable path', () => {
    expect(probe({ TN_ISA: 'generic' }).split(' ')[0]).toBe('generic');
  });

  test('the widest path the CPU runs is chosen at load; TN_ISA=avx2 caps it at AVX2', () => {
    const widest = addon.supportedIsas()[addon.supportedIsas().length - 1];
    expect(probe({ TN_ISA: '' }).split(' ')[0]).toBe(widest);
    const capped = probe({ TN_ISA: 'avx2' }).split(' ')[0];
    expect(capped).toBe(addon.supportedIsas().includes('avx2') ? 'avx2' : 'generic');
  });

  test('TN_NUM_THREADS sizes the pool', () => {
    expect(probe({ TN_NUM_THREADS: '1' }).split(' ')[1]).toBe('1');
    expect(probe({ TN_NUM_THREADS: '3' }).split(' ')[1]).toBe('3');
  });
});
