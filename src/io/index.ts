// File formats and crash-safe writes.
export { loadSafetensors, loadSafetensorsFromBuffer, saveSafetensors, serializeSafetensors } from './safetensors';
export type { SafetensorsContent } from './safetensors';
export { previousDirName, recoverDir, replaceDirAtomic, writeFileAtomic } from './atomic';
