// onnx-proto: ONNX's onnx.proto compiled to protobufjs classes. It takes tens of milliseconds to load, so it is
// required on the first export, not when the library loads.
import type { onnx as OnnxProto } from 'onnx-proto';

export type { OnnxProto };

let loaded: typeof OnnxProto | null = null;

export function onnxProto(): typeof OnnxProto {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  if (loaded === null) loaded = (require('onnx-proto') as { onnx: typeof OnnxProto }).onnx;
  return loaded;
}
