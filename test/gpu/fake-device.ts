// A pretend CUDA device for tests on any machine: the CPU kernels behind storages that count their reads back to
// the host (readFloat32/readInt32, the only way data leaves a device) and that run out of memory past a budget
// the way the CUDA addon does. Installed as kernels('cuda') through setCudaKernelsForTesting.
import { setCudaKernelsForTesting } from '../../src/cuda';
import { addon, NativeAddon, NativeStorage } from '../../src/native';

export interface FakeDevice {
  /** readFloat32/readInt32 calls on this device's storages: device-to-host copies. */
  reads: number;
  /** Bytes of this device's storages alive now (cached ones included), and the most there may be. */
  liveBytes: number;
  budgetBytes: number;
  /** Allocations refused for lack of memory. */
  outOfMemory: number;
  /** When set, every allocation fails with this message (another failure than memory). */
  failWith: string | null;
  /** Puts the real CUDA kernels (or their absence) back. */
  restore(): void;
}

type StorageClass = new (byteLength: number, zeroFill?: boolean) => NativeStorage;

export function installFakeCuda(budgetBytes = Infinity): FakeDevice {
  const device: FakeDevice = {
    reads: 0,
    liveBytes: 0,
    budgetBytes,
    outOfMemory: 0,
    failWith: null,
    restore: () => setCudaKernelsForTesting(null),
  };
  class FakeStorage extends (addon.Storage as StorageClass) {
    constructor(byteLength: number, zeroFill?: boolean) {
      if (device.failWith !== null) throw new Error(device.failWith);
      if (device.liveBytes + byteLength > device.budgetBytes) {
        device.outOfMemory++;
        throw new Error(`Storage: cannot allocate ${byteLength} bytes of CUDA memory (out of memory)`);
      }
      super(byteLength, zeroFill);
      device.liveBytes += byteLength;
    }
    override dispose(): void {
      if (!this.disposed) device.liveBytes -= this.byteLength;
      super.dispose();
    }
    override readFloat32(offset: number, count: number): Float32Array {
      device.reads++;
      return super.readFloat32(offset, count);
    }
    override readInt32(offset: number, count: number): Int32Array {
      device.reads++;
      return super.readInt32(offset, count);
    }
  }
  // Every kernel is the CPU addon's (through the prototype); only the storages differ.
  const kernels = Object.create(addon, { Storage: { value: FakeStorage } }) as NativeAddon;
  setCudaKernelsForTesting(kernels);
  return device;
}
