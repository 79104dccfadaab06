// The NCCL path of dist on a real GPU: one rank (no launcher), so NCCL's own kernels run on the stream of the CUDA
// addon. libnccl.so.2 is looked up by the loader, or named by TN_NCCL_LIBRARY (e.g. PyTorch's copy). Skipped where
// no CUDA device is usable.
import * as dist from '../../src/distributed';
import { tensor, tidy, Tensor } from '../../src/tensor';
import { describeGpu } from './twins';

function values(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

describeGpu('NCCL all-reduce and broadcast on one rank', () => {
  afterAll(() => dist.finalize());

  test('in place on the stream: sum, mean and max of one rank are its values; broadcast keeps them', () => {
    expect(dist.init({ backend: 'nccl' })).toEqual({ rank: 0, worldSize: 1, localRank: 0 });
    tidy(() => {
      const data = [1.5, -2, 3e-3, 4e6];
      for (const op of ['sum', 'mean', 'max'] as const) {
        const t = tensor(data).cuda();
        // A kernel queued after the collective reads its result (stream order).
        const doubled = dist.allReduce(t, { op }).mul(2);
        expect(values(t)).toEqual(data.map(Math.fround));
        expect(values(doubled)).toEqual(data.map((v) => Math.fround(2 * v)));
      }
      const b = tensor([7, 8, 9]).cuda();
      expect(values(dist.broadcast(b, 0))).toEqual([7, 8, 9]);
      const source = Float32Array.from({ length: 1 << 20 }, (_, i) => (i % 1000) - 500);
      const big = tensor(source).cuda();
      dist.allReduceAsync(big, { op: 'sum' }).wait();
      expect(Float32Array.from(big.dataSync())).toEqual(source);
      expect(() => dist.allReduce(tensor([1]).cuda(), { op: 'prod' as 'sum' })).toThrow(
        "op must be 'sum', 'mean' or 'max'",
      );
    });
  });
});
