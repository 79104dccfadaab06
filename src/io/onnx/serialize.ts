// GraphBuilder -> the bytes of an ONNX ModelProto (encoded by onnx-proto, the protobufjs code generated from
// ONNX's onnx.proto), with the weights inline or, for models too large for one protobuf message (2 GB), in an
// external data file next to the model, as ONNX's external-data convention describes.
import { dataType, GraphBuilder, Initializer } from './graph';
import { onnxProto, OnnxProto as onnx } from './proto';

/** Protobuf messages are limited to 2 GiB; weights beyond this much go to an external data file. */
export const EXTERNAL_DATA_THRESHOLD = 1.8 * 2 ** 30;
/** Each tensor in the external file starts at a multiple of this (lets runtimes map tensors in place). */
const EXTERNAL_ALIGNMENT = 4096;
/** IR version 8 is the one that goes with opsets 17 to 19; opset 20 needs 9. */
const irVersion = (opset: number) => (opset >= 20 ? 9 : 8);

export interface SerializeOptions {
  opset: number;
  producerVersion: string;
  /** Written as metadata_props. */
  metadata: Record<string, string>;
  /** The external data file's name (relative to the model file), or null to keep every weight inline. */
  externalDataFile: string | null;
}

/** The model file's bytes and, when external, the data file's chunks. */
export interface SerializedModel {
  model: Uint8Array;
  externalData: Uint8Array[] | null;
}

function tensorProto(init: Initializer, external: { location: string; offset: number } | null): onnx.ITensorProto {
  const base = { name: init.name, dims: init.dims, dataType: dataType(init.type) };
  if (external === null) return { ...base, rawData: init.bytes };
  return {
    ...base,
    dataLocation: onnxProto().TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: external.location },
      { key: 'offset', value: String(external.offset) },
      { key: 'length', value: String(init.bytes.byteLength) },
    ],
  };
}

export function serializeModel(graph: GraphBuilder, options: SerializeOptions): SerializedModel {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const initializers = graph.initializers.map((init) => {
    // Small constants stay inline either way.
    if (options.externalDataFile === null || init.bytes.byteLength < 1024) return tensorProto(init, null);
    const padding = (EXTERNAL_ALIGNMENT - (offset % EXTERNAL_ALIGNMENT)) % EXTERNAL_ALIGNMENT;
    if (padding > 0) chunks.push(new Uint8Array(padding));
    offset += padding;
    const proto = tensorProto(init, { location: options.externalDataFile, offset });
    chunks.push(init.bytes);
    offset += init.bytes.byteLength;
    return proto;
  });
  const model: onnx.IModelProto = {
    irVersion: irVersion(options.opset),
    producerName: 'transformer-native',
    producerVersion: options.producerVersion,
    opsetImport: [{ domain: '', version: options.opset }],
    metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes,
      initializer: initializers,
      input: graph.inputs,
      output: graph.outputs,
    },
  };
  return {
    model: onnxProto().ModelProto.encode(model).finish(),
    externalData: options.externalDataFile === null ? null : chunks,
  };
}

/** Bytes of every weight of the graph (what decides whether the data must go external). */
export function initializerBytes(graph: GraphBuilder): number {
  return graph.initializers.reduce((sum, init) => sum + init.bytes.byteLength, 0);
}
