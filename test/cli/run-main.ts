// Running the CLI in-process for tests: main(argv) with its output collected from in-memory streams.
import { Writable } from 'node:stream';
import { main, MainOptions } from '../../src/cli/main';

/** A writable stream that keeps what is written to it in `text`. */
export function sink(): Writable & { text: string } {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      stream.text += String(chunk);
      done();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** main(argv) with `options`: its exit code and everything it wrote. */
export async function runMainWith(options: MainOptions, ...argv: string[]): Promise<CliRun> {
  const stdout = sink();
  const stderr = sink();
  const code = await main(argv, { stdout, stderr }, options);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** main(argv): its exit code and everything it wrote. */
export function runMain(...argv: string[]): Promise<CliRun> {
  return runMainWith({}, ...argv);
}
