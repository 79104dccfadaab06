'use strict';
// Run under `mpirun -np 2`: dist's collectives on CPU tensors, checked on every rank; prints one JSON line per rank
// with the failures (an empty list when all hold).
const path = require('node:path');
const tn = require(path.join(__dirname, '..', '..', '..', 'dist'));
const { dist, tensor, zeros } = tn;

const failures = [];
function expectEqual(what, actual, expected) {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    failures.push(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}
function expectThrows(what, fn, pattern) {
  try {
    fn();
    failures.push(`${what}: did not throw`);
  } catch (e) {
    if (!pattern.test(e.message)) failures.push(`${what}: threw '${e.message}'`);
  }
}

const info = dist.init();
const { rank, worldSize } = info;
expectEqual('worldSize', [worldSize, dist.worldSize(), dist.rank()], [2, 2, rank]);
expectEqual('localRank', info.localRank, rank); // both on this host
expectEqual('init again', dist.init(), info);

const base = [1, -2, 3.5, 1e-3];
const mine = base.map((v) => v * (rank + 1));
expectEqual(
  'sum',
  Array.from(dist.allReduce(tensor(mine), { op: 'sum' }).dataSync()),
  base.map((v) => Math.fround(v * 3)),
);
expectEqual(
  'mean',
  Array.from(dist.allReduce(tensor(mine), { op: 'mean' }).dataSync()),
  base.map((v) => Math.fround(Math.fround(v * 3) / 2)),
);
expectEqual(
  'max',
  Array.from(dist.allReduce(tensor(mine), { op: 'max' }).dataSync()),
  base.map((v) => Math.fround(Math.max(v, 2 * v))),
);
expectEqual('default op is sum', Array.from(dist.allReduce(tensor([rank])).dataSync()), [1]);

// A large tensor, packed with a small one into one collective, asynchronously; disposed before the wait, which the
// pin survives.
const n = 3_000_001;
const big = tn.full([n], rank + 1);
const small = tensor([[rank, 10]]);
const work = dist.allReduceAsync([big, small], { op: 'sum' });
big.dispose();
work.wait();
expectEqual('packed small', Array.from(small.dataSync()), [1, 20]);
const bigAgain = tn.full([n], rank + 1);
dist.allReduce(bigAgain);
const values = bigAgain.dataSync();
expectEqual('large', [values[0], values[n - 1], values.every((v) => v === 3)], [3, 3, true]);
const times = work.times();
expectEqual('times', times.queued <= times.started && times.started <= times.ended && times.ended <= dist.now(), true);

const b = rank === 1 ? tensor([7, 8, 9]) : zeros([3]);
dist.broadcast(b, 1);
expectEqual('broadcast', Array.from(b.dataSync()), [7, 8, 9]);
dist.barrier();
expectEqual('numbers', dist.allReduceNumbers([rank, 0.5], 'sum'), [1, 1]);

expectThrows('bad op', () => dist.allReduce(tensor([1]), { op: 'min' }), /op must be 'sum', 'mean' or 'max'/);
expectThrows('int32', () => dist.allReduce(tensor([1], { dtype: 'int32' })), /only float32/);
expectThrows('root', () => dist.broadcast(tensor([1]), 2), /root must be a rank in \[0, 2\)/);
expectThrows('backend', () => dist.init({ backend: 'nccl' }), /already initialized with backend 'mpi'/);
const disposed = tensor([1]);
disposed.dispose();
expectThrows('disposed', () => dist.allReduce(disposed), /disposed/);

// DistributedDataParallel: rank 0's parameters reach rank 1 at construction; a layer only rank 1 uses still gets its
// gradient averaged on both ranks (rank 0 contributes zeros when it syncs), whatever order the buckets complete in.
tn.manualSeed(rank === 0 ? 1 : 2);
const model = new tn.nn.Sequential(new tn.nn.Linear(3, 4), new tn.nn.Linear(4, 2));
const ddp = new tn.nn.DistributedDataParallel(model, { bucketMB: 1e-5 });
expectEqual('buckets', ddp.numBuckets, 4);
const [weights] = dist.allReduceNumbers([Array.from(model.parameters()[0].dataSync()).reduce((a, b) => a + b)], 'max');
expectEqual(
  'broadcast at construction',
  Array.from(model.parameters()[0].dataSync()).reduce((a, b) => a + b),
  weights,
);
const x = tensor([[1, 2, 3]]);
tn.tidy(() => {
  const hidden = model.children()[0].forward(x);
  const out = rank === 1 ? model.children()[1].forward(hidden) : hidden;
  out.sum().backward();
});
ddp.finishGradientSync();
const grads = model.parameters().map((p) => Array.from(p.grad.dataSync()));
const [gradSum] = dist.allReduceNumbers([grads.flat().reduce((a, b) => a + b, 0)], 'sum');
expectEqual('identical gradients', grads.flat().reduce((a, b) => a + b, 0) * 2, gradSum);
expectEqual('unused layer: half of rank 1 gradient', grads[3], [0.5, 0.5]);
expectThrows(
  'twice',
  () => {
    tn.tidy(() => model.forward(x).sum().backward());
    tn.tidy(() => model.forward(x).sum().backward());
  },
  /a gradient was produced twice before finishGradientSync/,
);

// The promise form: the event loop runs while the collective is in flight.
async function promiseForm() {
  const t = tn.full([1 << 20], rank + 1);
  const work = dist.allReduceAsync(t, { op: 'max' });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  await work.done();
  clearInterval(timer);
  expectEqual('done()', [t.dataSync()[0], work.completed, ticks >= 0], [2, true, true]);
  t.dispose();
}

promiseForm().then(() => console.log(JSON.stringify({ rank, failures })));
