#!/usr/bin/env node
// The transformer-native program. The first Ctrl-C asks a running training to stop after its current step and
// save a checkpoint; a second one exits at once.
import { main } from './main';

export { main, PROGRAM } from './main';
export type { MainOptions } from './main';
export { parseArgs, resolveOptions, UserError } from './args';
export type { OptionSpec, OptionType, OptionValues, ParsedArgs } from './args';
export { COMMANDS, getTask, listTasks, registerTask, unregisterTask } from './tasks';
export type { CliIO, CommandContext, CommandName, TaskCommand, TaskDefinition } from './tasks';
export {
  checkpointTask,
  loadModel,
  readJSONFile,
  readTextFile,
  resolveCheckpoint,
  runTraining,
  tokenizerOf,
  trainOptions,
} from './common';
export type { TrainingRun } from './common';

if (require.main === module) {
  const handlers: Array<() => void> = [];
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted || handlers.length === 0) process.exit(130);
    interrupted = true;
    process.stderr.write('\nstopping (Ctrl-C again to quit now)\n');
    for (const h of handlers) h();
  });
  main(
    process.argv.slice(2),
    { stdout: process.stdout, stderr: process.stderr },
    { onInterrupt: (h) => handlers.push(h) },
  ).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`transformer-native: error: ${(error as Error)?.message ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
