// How Hugging Face weight names and layouts map onto this library's parameters. A rule ties one of our
// parameters to one or more HF tensors: several are concatenated along the first dimension (BERT's and BART's
// separate query/key/value against our packed in_proj), Conv1D weights are stored transposed ([in, out]), and
// a few tensors differ only by shape (BART's final_logits_bias [1, V]). The same rules read and write.
import { noGrad } from '../../autograd';
import { fmtShape } from '../../checks';
import { SafetensorsShards } from '../../io/sharded';
import { Module } from '../../nn';
import { cat } from '../../ops';
import { Tensor, tidy } from '../../tensor';

export interface WeightRule {
  /** Our parameter's name in stateDict(). */
  ours: string;
  /** The HF tensors, concatenated along the first dimension (after transposing each, with `transpose`). */
  hf: string[];
  /** Whether the HF names sit under the base model's prefix (`transformer.`, `bert.`, `model.`). */
  base: boolean;
  /** HF stores the matrix as [in, out] (GPT-2's Conv1D). */
  transpose?: boolean;
  /** HF's shape when it differs from ours only by shape (a single HF tensor). */
  hfShape?: number[];
  /** Files may lack it (the parameter then keeps its initial value: BartModel files have no final_logits_bias,
   * which starts at zero). */
  optional?: boolean;
  /** Other names the same tensor may have in a file (legacy names, tied copies); the first present is read. */
  alternatives?: string[];
}

export interface WeightMap {
  /** The base model's prefix as HF writes it in a task model's file (files of the base model alone have none). */
  prefix: string;
  /** The prefix this model's own HF class writes (default: prefix). */
  savePrefix?: string;
  rules: WeightRule[];
  /** HF tensors a file may hold that the model does not read: buffers (causal masks, position ids), tied
   * copies, pre-training heads. Names without the prefix. */
  ignored: (name: string) => boolean;
}

const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'];

/** The HF shape of each part of a rule, from our parameter's shape. */
function partShapes(rule: WeightRule, ours: readonly number[]): number[][] {
  if (rule.hfShape) return [rule.hfShape];
  const parts = rule.hf.length;
  const rows = ours[0] / parts;
  const shape = [rows, ...ours.slice(1)];
  return Array.from({ length: parts }, () => (rule.transpose ? [...shape].reverse() : shape));
}

/** A rule's HF name as a file with this base prefix spells it. */
function withPrefix(rule: WeightRule, name: string, prefix: string): string {
  return rule.base ? `${prefix}${name}` : name;
}

/** The prefix a file uses: the one under which the first base rule's tensor is found. */
function detectPrefix(map: WeightMap, names: ReadonlySet<string>): string {
  const first = map.rules.find((r) => r.base);
  if (first === undefined || map.prefix === '') return '';
  const candidates = [first.hf[0], ...(first.alternatives ?? [])];
  return candidates.some((n) => names.has(`${map.prefix}${n}`)) ? map.prefix : '';
}

interface Resolved {
  rule: WeightRule;
  target: Tensor;
  /** The file's names of the parts, in order. */
  names: string[];
}

/** Matches every rule to the file's tensors and checks names, shapes and dtypes from the headers alone; throws
 * one error naming every missing, unexpected, mis-shaped or non-float tensor. */
function resolve(op: string, model: Module, map: WeightMap, weights: SafetensorsShards): Resolved[] {
  const names = new Set(weights.entries.keys());
  const prefix = detectPrefix(map, names);
  const params = model.stateDict();
  const used = new Set<string>();
  const missing: string[] = [];
  const mismatches: string[] = [];
  const resolved: Resolved[] = [];
  for (const rule of map.rules) {
    const target = params.get(rule.ours);
    if (target === undefined) throw new Error(`${op}: internal: the model has no parameter '${rule.ours}'`);
    const expected = partShapes(rule, target.shape);
    const found: string[] = [];
    rule.hf.forEach((name, i) => {
      const options = [name, ...(i === 0 && rule.hf.length === 1 ? (rule.alternatives ?? []) : [])];
      const present = options.map((n) => withPrefix(rule, n, prefix)).filter((n) => names.has(n));
      if (present.length === 0) return rule.optional ? undefined : missing.push(withPrefix(rule, name, prefix));
      present.forEach((n) => used.add(n));
      const entry = weights.entries.get(present[0])!;
      const want = expected[i];
      if (entry.shape.length !== want.length || entry.shape.some((d, j) => d !== want[j]))
        mismatches.push(`wrong shape: '${present[0]}' is ${fmtShape(entry.shape)}, the config gives ${fmtShape(want)}`);
      if (!FLOAT_DTYPES.includes(entry.dtype))
        mismatches.push(`wrong dtype: '${present[0]}' is ${entry.dtype}, weights must be F32, F16, BF16 or F64`);
      found.push(present[0]);
    });
    if (found.length === rule.hf.length) resolved.push({ rule, target, names: found });
  }
  const unexpected = [...names].filter(
    (n) => !used.has(n) && !map.ignored(n.startsWith(prefix) ? n.slice(prefix.length) : n),
  );
  const problems: string[] = [];
  const list = (items: string[]) => items.map((n) => `'${n}'`).join(', ');
  if (missing.length > 0) problems.push(`missing tensors: ${list(missing)}`);
  if (unexpected.length > 0) problems.push(`unexpected tensors: ${list(unexpected)}`);
  problems.push(...mismatches);
  if (problems.length > 0) throw new Error(`${op}: the weights do not fit the model:\n  ${problems.join('\n  ')}`);
  return resolved;
}

/** Reads the HF tensors into the model's parameters, one rule at a time (at most one parameter's worth of
 * temporary memory). Every name and shape is checked before any tensor data is read. */
export function loadWeights(op: string, model: Module, map: WeightMap, weights: SafetensorsShards): void {
  const resolved = resolve(op, model, map, weights);
  // The targets are stateDict()'s detached views: they share the parameters' memory. A tensor stored as we store
  // it is read straight into its parameter; the others go through one temporary.
  noGrad(() => {
    for (const { rule, target, names } of resolved) {
      if (names.length === 1 && !rule.transpose && target.device === 'cpu') {
        weights.readInto(names[0], target);
        continue;
      }
      // tidy frees every temporary (views included) at once, rather than when the GC gets to them.
      tidy(() => {
        const parts = names.map((name) => {
          const t = weights.read(name);
          return rule.transpose ? t.transpose(0, 1).contiguous() : t;
        });
        target.copy_((parts.length === 1 ? parts[0] : cat(parts, 0)).reshape(...target.shape));
      });
    }
  });
}

/** The model's parameters under HF's names and in HF's layouts (the prefixed names of a task model's file). */
export function exportWeights(model: Module, map: WeightMap): Map<string, Tensor> {
  const params = model.stateDict();
  const out = new Map<string, Tensor>();
  noGrad(() => {
    for (const rule of map.rules) {
      const source = params.get(rule.ours);
      if (source === undefined) throw new Error(`saveHuggingFace: internal: the model has no parameter '${rule.ours}'`);
      const shapes = partShapes(rule, source.shape);
      const rows = source.shape[0] / rule.hf.length;
      rule.hf.forEach((name, i) => {
        const part = rule.hf.length === 1 ? source : source.slice(0, i * rows, (i + 1) * rows);
        const laidOut = rule.transpose ? part.transpose(0, 1) : part;
        const hfName = withPrefix(rule, name, map.savePrefix ?? map.prefix);
        out.set(hfName, laidOut.contiguous().reshape(...shapes[i]));
      });
    }
  });
  return out;
}
