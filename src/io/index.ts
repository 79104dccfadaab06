// File formats and crash-safe writes.
export {
  loadSafetensors,
  loadSafetensorsFromBuffer,
  saveSafetensors,
  SafetensorsFile,
  serializeSafetensors,
} from './safetensors';
export type { SafetensorsContent, SafetensorsEntry } from './safetensors';
export { SafetensorsShards } from './sharded';
export { previousDirName, recoverDir, replaceDirAtomic, writeFileAtomic, writeFilesAtomic } from './atomic';
export type { AtomicFile } from './atomic';
export { exportOnnx, UnsupportedModuleError } from './onnx';
export type { ExportOnnxOptions, ExportOnnxResult } from './onnx';
