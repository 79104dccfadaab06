// Crash-safe writes: a reader sees either the previous content or the complete new one, never a partial file,
// whatever moment the process is killed (or the machine loses power) at.
import * as fs from 'node:fs';
import * as path from 'node:path';

function uniqueSuffix(): string {
  return `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Flushes a directory's entries (a rename is only durable once its directory is). Some platforms (Windows)
 * cannot open or fsync a directory; there the rename is as durable as the OS makes it. */
function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch {
    // EINVAL/EPERM/EISDIR: directory fsync unsupported here.
  } finally {
    fs.closeSync(fd);
  }
}

function writeAndSync(file: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const fd = fs.openSync(file, 'wx');
  try {
    const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const bytes of chunks) {
      let written = 0;
      while (written < bytes.byteLength) written += fs.writeSync(fd, bytes, written, bytes.byteLength - written);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes data to file atomically: into a temporary file in the same directory, fsync, rename over the target,
 * then fsync the directory. On failure the temporary file is removed and the previous file is untouched. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  if (typeof file !== 'string' || file.length === 0)
    throw new TypeError(
      `writeFileAtomic: path must be a non-empty string, got ${typeof file === 'string' ? "''" : typeof file}`,
    );
  if (typeof data !== 'string' && !(data instanceof Uint8Array))
    throw new TypeError(`writeFileAtomic: data must be a Uint8Array or a string, got ${typeof data}`);
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${uniqueSuffix()}.tmp`);
  try {
    writeAndSync(temp, data);
    fs.renameSync(temp, target);
  } catch (e) {
    fs.rmSync(temp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/** A file for writeFilesAtomic: its path and its content, whole or in chunks written one after another (a
 * content over the largest Buffer needs no copy into one). */
export interface AtomicFile {
  path: string;
  data: Uint8Array | readonly Uint8Array[];
}

/** Writes several files that belong together (a model and its external data): each goes to a temporary file in
 * its directory and is fsynced; only when all are written are they renamed over their targets. A target that is a
 * directory is an error before anything is written. On failure every temporary file is removed and no target is
 * touched (should a rename itself fail midway, the files it had created are removed again). */
export function writeFilesAtomic(files: readonly AtomicFile[]): void {
  const temps: Array<[string, string]> = [];
  const created: string[] = [];
  try {
    for (const file of files) {
      const target = path.resolve(file.path);
      if (fs.existsSync(target) && fs.statSync(target).isDirectory())
        throw Object.assign(new Error(`writeFilesAtomic: ${target} is a directory`), { code: 'EISDIR' });
      const temp = path.join(path.dirname(target), `.${path.basename(target)}.${uniqueSuffix()}.tmp`);
      temps.push([temp, target]);
      writeAndSync(temp, file.data);
    }
    for (const [temp, target] of temps) {
      const existed = fs.existsSync(target);
      fs.renameSync(temp, target);
      if (!existed) created.push(target);
    }
  } catch (e) {
    // A rename that fails after others went through takes back the files that did not exist before.
    for (const file of [...temps.map(([temp]) => temp), ...created]) fs.rmSync(file, { force: true });
    throw e;
  }
  for (const dir of new Set(temps.map(([, target]) => path.dirname(target)))) fsyncDir(dir);
}

/** The name a directory's previous version is moved to while replaceDirAtomic swaps in the new one. */
export function previousDirName(dir: string): string {
  return `${path.resolve(dir)}.previous`;
}

function fsyncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) fsyncTree(full);
    else if (entry.isFile()) {
      const fd = fs.openSync(full, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  fsyncDir(dir);
}

/** Finishes or undoes a replaceDirAtomic that was interrupted: when `dir` is missing but its previous version
 * survives (the kill fell between the two renames), the previous version is moved back. Leftover temporary
 * directories are removed. Returns true when something was restored. Call it before reading a directory that
 * replaceDirAtomic writes (replaceDirAtomic itself calls it first). */
export function recoverDir(dir: string): boolean {
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  const base = path.basename(target);
  if (fs.existsSync(parent)) {
    for (const name of fs.readdirSync(parent)) {
      if (name.startsWith(`.${base}.`) && name.endsWith('.tmpdir'))
        fs.rmSync(path.join(parent, name), { recursive: true, force: true });
    }
  }
  const previous = previousDirName(target);
  if (!fs.existsSync(previous)) return false;
  if (fs.existsSync(target)) {
    // The new version is complete (it was renamed into place last); only the cleanup was cut short.
    fs.rmSync(previous, { recursive: true, force: true });
    return false;
  }
  fs.renameSync(previous, target);
  fsyncDir(parent);
  return true;
}

/** Replaces directory `dir` by one that fill() writes, so that a kill at any moment leaves either the previous
 * complete directory or the new complete one (after recoverDir). fill receives an empty temporary directory
 * next to `dir` and must write everything synchronously; its files are fsynced before the swap. If fill throws,
 * the temporary directory is removed and `dir` is untouched. */
export function replaceDirAtomic(dir: string, fill: (tempDir: string) => void): void {
  if (typeof dir !== 'string' || dir.length === 0)
    throw new TypeError(
      `replaceDirAtomic: dir must be a non-empty string, got ${typeof dir === 'string' ? "''" : typeof dir}`,
    );
  if (typeof fill !== 'function') throw new TypeError(`replaceDirAtomic: fill must be a function, got ${typeof fill}`);
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  recoverDir(target);
  if (fs.existsSync(target) && !fs.statSync(target).isDirectory())
    throw new Error(`replaceDirAtomic: ${target} exists and is not a directory`);
  const temp = path.join(parent, `.${path.basename(target)}.${uniqueSuffix()}.tmpdir`);
  fs.mkdirSync(temp);
  try {
    const result: unknown = fill(temp);
    if (result instanceof Promise)
      throw new TypeError('replaceDirAtomic: fill must be synchronous (it returned a Promise)');
    fsyncTree(temp);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  const previous = previousDirName(target);
  const hadPrevious = fs.existsSync(target);
  if (hadPrevious) fs.renameSync(target, previous);
  fs.renameSync(temp, target);
  fsyncDir(parent);
  if (hadPrevious) fs.rmSync(previous, { recursive: true, force: true });
}
