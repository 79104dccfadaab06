// A small builder of ONNX graphs: nodes with generated output names, initializers (the weights, as raw
// little-endian bytes), constants, and typed inputs/outputs with symbolic (dynamic) dimensions. It produces plain
// objects in the shape of onnx-proto's messages; serialize.ts encodes them.
import { onnxProto, OnnxProto as onnx } from './proto';

export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

/** A dimension of a graph input/output: a fixed size, or a name for a size given at run time. */
export type Dim = number | string;

export type ElementType = 'float32' | 'int64' | 'bool';

/** The TensorProto data type of an element type. */
export function dataType(type: ElementType): onnx.TensorProto.DataType {
  const { DataType } = onnxProto().TensorProto;
  return { float32: DataType.FLOAT, int64: DataType.INT64, bool: DataType.BOOL }[type];
}

/** A weight or constant: its name, dims, element type and bytes. */
export interface Initializer {
  name: string;
  dims: number[];
  type: ElementType;
  bytes: Uint8Array;
}

function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const A = onnxProto().AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: Buffer.from(value, 'utf8') };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if (typeof value === 'number') return { name, type: A.INT, i: value };
  if ('float' in value) return { name, type: A.FLOAT, f: value.float };
  return { name, type: A.FLOATS, floats: value.floats };
}

function valueInfo(name: string, type: ElementType, dims: readonly Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: dataType(type),
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(values: Float32Array | BigInt64Array | Uint8Array): Uint8Array {
  // ONNX raw_data is little-endian, as typed arrays are on every platform Node runs on.
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** A graph under construction. Node outputs are named `<prefix>/<op>_<n>` unless given. */
export class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: onnx.IValueInfoProto[] = [];
  readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  input(name: string, type: ElementType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Renames `value` to the graph output `name` (through an Identity) and declares it. */
  output(value: string, name: string, type: ElementType, dims: readonly Dim[]): void {
    this.node('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Adds a node with one output; returns that output's name. */
  node(
    op: string,
    inputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
    output?: string,
  ): string {
    return this.nodeN(op, inputs, 1, attributes, output === undefined ? undefined : [output])[0];
  }

  /** Adds a node with `count` outputs; returns their names. */
  nodeN(
    op: string,
    inputs: readonly string[],
    count: number,
    attributes: Record<string, AttributeValue> = {},
    outputs?: string[],
  ): string[] {
    const id = this.counter++;
    const names = outputs ?? Array.from({ length: count }, (_, i) => `/${op}_${id}${count > 1 ? `_${i}` : ''}`);
    this.nodes.push({
      name: `${op}_${id}`,
      opType: op,
      input: [...inputs],
      output: names,
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return names;
  }

  /** A float32 weight. The graph keeps `values` (not a copy: pass an array nothing else writes, such as what
   * dataSync returns), so a large model is held once more, not twice. */
  weight(name: string, values: Float32Array, dims: number[]): string {
    this.initializers.push({ name, dims, type: 'float32', bytes: bytesOf(values) });
    return name;
  }

  /** A float32 constant, shared between uses of the same value and shape. */
  floats(values: readonly number[], dims: number[] = [values.length]): string {
    return this.constant('float32', values, dims, () => bytesOf(Float32Array.from(values)));
  }

  /** A float32 scalar constant. */
  scalar(value: number): string {
    return this.floats([value], []);
  }

  /** An int64 constant, shared between uses of the same value and shape. */
  ints(values: readonly number[], dims: number[] = [values.length]): string {
    return this.constant('int64', values, dims, () => bytesOf(BigInt64Array.from(values.map((v) => BigInt(v)))));
  }

  private constant(type: ElementType, values: readonly number[], dims: number[], bytes: () => Uint8Array): string {
    const key = `${type}:${dims.join('x')}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = `/const_${this.constants.size}`;
      this.constants.set(key, name);
      this.initializers.push({ name, dims, type, bytes: bytes() });
    }
    return name;
  }
}
