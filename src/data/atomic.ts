// Atomic file writes: readers see either the old file or the complete new one, never a partial write.
import * as fs from 'fs';
import * as path from 'path';

/** Writes data to a temporary file in the same directory, fsyncs it, then renames it over filePath. */
export function writeFileAtomic(filePath: string, data: string | Uint8Array): void {
  if (typeof filePath !== 'string' || filePath.length === 0)
    throw new TypeError(`writeFileAtomic: path must be a non-empty string, got ${JSON.stringify(filePath)}`);
  const dir = path.dirname(path.resolve(filePath));
  const temp = path.join(dir, `.${path.basename(filePath)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const fd = fs.openSync(temp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(temp, filePath);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
  // Persist the rename itself; directories cannot be opened for fsync on every platform, so this is best effort.
  try {
    const dirFd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  } catch {
    /* the data file itself is already durable */
  }
}
