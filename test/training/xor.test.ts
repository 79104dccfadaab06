// The Tensor trains: a 2-layer MLP learns XOR with plain SGD on autograd gradients.
import { F, noGrad, randn, Tensor, tensor, tidy } from '../../src';

test('a 2-layer MLP learns XOR (loss < 0.05)', () => {
  const x = tensor([
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ]);
  const y = tensor([0, 1, 1, 0], { dtype: 'int32' });
  const params = [
    randn([8, 2], { seed: 1 }).mul(0.8).requiresGrad_(),
    tensor(new Float32Array(8)).requiresGrad_(),
    randn([2, 8], { seed: 2 }).mul(0.8).requiresGrad_(),
    tensor(new Float32Array(2)).requiresGrad_(),
  ];
  const [w1, b1, w2, b2] = params;
  const forward = () => F.linear(F.linear(x, w1, b1).tanh(), w2, b2);
  let loss = Infinity;
  for (let step = 0; step < 400; step++) {
    loss = tidy(() => {
      const l = F.crossEntropy(forward(), y);
      l.backward();
      noGrad(() => {
        for (const p of params) {
          p.copy_(p.sub((p.grad as Tensor).mul(0.5)));
          p.zeroGrad();
        }
      });
      return l.item();
    });
  }
  expect(loss).toBeLessThan(0.05);
  const predictions = noGrad(() => tidy(() => forward().argmax(1).toArray()));
  expect(predictions).toEqual([0, 1, 1, 0]);
});
