// The CUDA code paths that need no GPU to test, on a pretend device (fake-device.ts): what the allocator does when
// device memory runs out.
import { allocate, emptyCache, isOutOfMemory, memory, release } from '../../src/backend';
import { zeros } from '../../src/tensor';
import { FakeDevice, installFakeCuda } from './fake-device';

let device: FakeDevice;

beforeEach(() => {
  emptyCache();
  device = installFakeCuda();
});

afterEach(() => {
  emptyCache();
  device.restore();
});

describe('out of device memory', () => {
  test('the cache of disposed storages is emptied and the allocation retried before the error reaches the user', () => {
    device.budgetBytes = 1000;
    const cpuKept = allocate('cpu', 10, false);
    release('cpu', cpuKept, 40); // cached on the CPU: not the device's to free
    const a = allocate('cuda', 100, false),
      b = allocate('cuda', 100, false);
    release('cuda', a, 400);
    release('cuda', b, 400);
    expect(device.liveBytes).toBe(800); // cached, still held
    expect(memory().cachedStorages).toBe(3);
    const c = allocate('cuda', 150, true); // 600 more bytes fit only once the cache is freed
    expect(device.outOfMemory).toBe(1);
    expect(device.liveBytes).toBe(600);
    expect(Array.from(c.readFloat32(0, 150)).every((v) => v === 0)).toBe(true);
    expect(memory().cachedStorages).toBe(1); // the CPU's cached storage is still there
    expect(memory().cachedBytes).toBe(40);
    release('cuda', c, 600);
  });

  test('with nothing cached to free, the out-of-memory error reaches the user and the counts stay right', () => {
    device.budgetBytes = 1000;
    const before = memory();
    expect(() => allocate('cuda', 300, false)).toThrow(/Storage: cannot allocate 1200 bytes of CUDA memory/);
    expect(device.outOfMemory).toBe(1); // no retry: there was nothing to free
    expect(memory()).toEqual(before);
    // Through a tensor, the same error.
    expect(() => zeros([300], { device: 'cuda' })).toThrow(/cannot allocate 1200 bytes/);
  });

  test('when even the emptied cache is not enough, the second failure is the one the user sees', () => {
    device.budgetBytes = 1000;
    release('cuda', allocate('cuda', 50, false), 200);
    expect(() => allocate('cuda', 251, false)).toThrow(/cannot allocate 1004 bytes/);
    expect(device.outOfMemory).toBe(2);
    expect(memory().cachedStorages).toBe(0);
    expect(device.liveBytes).toBe(0);
  });

  test('other allocation errors are not retried and leave the cache alone', () => {
    release('cuda', allocate('cuda', 10, false), 40);
    device.failWith = 'Storage: no CUDA device';
    expect(() => allocate('cuda', 20, false)).toThrow(/^Storage: no CUDA device$/);
    expect(memory().cachedStorages).toBe(1);
    expect(isOutOfMemory(new Error('Storage: no CUDA device'))).toBe(false);
    expect(isOutOfMemory(new Error('Storage: cannot allocate 4 bytes of CUDA memory (out of memory)'))).toBe(true);
    expect(isOutOfMemory(new RangeError('Storage: cannot allocate 4 bytes'))).toBe(true); // the CPU addon's
    expect(isOutOfMemory('cannot allocate')).toBe(false);
  });
});
