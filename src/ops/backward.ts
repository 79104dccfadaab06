// The backward pass: walks the graph from a root in reverse topological order, calling each node's
// backward under noGrad and accumulating gradients; leaves that require grad receive `.grad`.
import { fmtShape } from '../checks';
import { noGrad } from '../autograd';
import { keep, onesLike, tidy, Tensor } from '../tensor';
import { binaryKernel } from './elementwise';
import { kernelsFor } from './util';

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    const inputs = t.gradFn ? t.gradFn.inputs : [];
    if (next < inputs.length) {
      top[1]++;
      const input = inputs[next];
      if (input && input.requiresGrad && !visited.has(input)) {
        visited.add(input);
        stack.push([input, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order.reverse(); // root first
}

function addInPlace(target: Tensor, g: Tensor): void {
  const strides = [1];
  binaryKernel(kernelsFor('backward', target, g), {
    op: 'add',
    a: target.storage,
    aOffset: 0,
    aStrides: strides,
    b: g.storage,
    bOffset: 0,
    bStrides: strides,
    out: target.storage,
    shape: [target.size],
  });
}

export function backward(root: Tensor, grad: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad)
    throw new Error('backward: this tensor does not require grad (no input of the computation had requiresGrad)');
  if (grad === undefined) {
    if (root.size !== 1)
      throw new RangeError(
        `backward: grad can be omitted only for a one-element output, got shape ${fmtShape(root.shape)}`,
      );
  } else if (
    grad.size !== root.size ||
    grad.shape.length !== root.shape.length ||
    grad.shape.some((d, i) => d !== root.shape[i])
  ) {
    throw new RangeError(
      `backward: grad shape ${fmtShape(grad.shape)} does not match the output shape ${fmtShape(root.shape)}`,
    );
  }
  noGrad(() => {
    // Every gradient in `grads` is held by the engine alone, so it may be accumulated into in place.
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, grad ? grad.clone() : onesLike(root));
    for (const t of topologicalOrder(root)) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (node === null) {
        if (t.grad === null) t.grad = keep(g);
        else {
          addInPlace(t.grad, g);
          g.dispose();
        }
        // Every contribution of this backward has arrived: the topological order visits a leaf after all its users.
        t.runGradHooks();
        continue;
      }
      if (node.backwardFn === null)
        throw new Error(
          `backward: the graph through '${node.name}' was already freed; pass { retainGraph: true } to the first backward()`,
        );
      const backwardFn = node.backwardFn;
      const inputGrads = tidy(() => backwardFn(g));
      const inputs = node.inputs;
      if (!retainGraph) node.release();
      // A backward may return the same tensor for several inputs (add passes g through to both): the first
      // taker gets it, later ones a copy.
      const taken = new Set<Tensor>();
      inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!gi || !input || !input.requiresGrad) return;
        const existing = grads.get(input);
        if (existing !== undefined) addInPlace(existing, gi);
        else if (taken.has(gi)) grads.set(input, gi.clone());
        else {
          grads.set(input, gi);
          taken.add(gi);
        }
      });
      for (const gi of new Set([g, ...inputGrads])) if (gi && !taken.has(gi)) gi.dispose();
    }
  });
}
