// File formats and crash-safe writes.
export { loadSafetensors, loadSafetensorsFromBuffer, saveSafetensors, serializeSafetensors } from './safetensors';
export type { SafetensorsContent } from './safetensors';
export { previousDirName, recoverDir, replaceDirAtomic, writeFileAtomic, writeFilesAtomic } from './atomic';
export type { AtomicFile } from './atomic';
export { exportOnnx, UnsupportedModuleError } from './onnx';
export type { ExportOnnxOptions, ExportOnnxResult } from './onnx';
