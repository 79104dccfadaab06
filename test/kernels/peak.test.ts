// The peak family: the machine limits the benchmark measures, through their typed calls, and the binding's
// argument checks.
import { addon } from '../../src/native';
import { measureBandwidthGBsKernel, measureFmaGflopsKernel } from '../../src/ops/peak';
import { expectError } from '../helpers';

test('the FMA peak and the triad bandwidth are positive, finite rates', () => {
  const gflops = measureFmaGflopsKernel(addon, { threads: 1, seconds: 0.05 });
  expect(Number.isFinite(gflops)).toBe(true);
  expect(gflops).toBeGreaterThan(0.5);
  const bandwidth = measureBandwidthGBsKernel(addon, { threads: 1, bytesPerArray: 1 << 20, repeats: 2 });
  expect(Number.isFinite(bandwidth)).toBe(true);
  expect(bandwidth).toBeGreaterThan(0.1);
});

test('bad arguments are named', () => {
  expectError(
    () => measureFmaGflopsKernel(addon, { threads: 0, seconds: 0.05 }),
    'RangeError',
    /measureFmaGflops: threads/,
  );
  expectError(
    () => measureFmaGflopsKernel(addon, { threads: 1, seconds: 0 }),
    'RangeError',
    /seconds must be in \(0, 60\]/,
  );
  expectError(
    () => measureBandwidthGBsKernel(addon, { threads: 1, bytesPerArray: 16, repeats: 1 }),
    'RangeError',
    /measureBandwidthGBs: bytesPerArray/,
  );
});
