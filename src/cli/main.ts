// The command line: `transformer-native <command> [--task NAME] [options]` or `transformer-native <task> <command>`.
// main() is callable in-process (it returns the exit code and writes only to the given streams).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  camelCase,
  findOptionValues,
  formatOptions,
  OptionSpec,
  OptionValues,
  parseArgs,
  resolveOptions,
  suggestion,
  UserError,
} from './args';
import { checkpointTask } from './common';
import { EXPORT_OPTIONS, EXPORT_SUMMARY, exportHelp, runExport } from './export';
import { runServe, SERVE_OPTIONS, SERVE_SUMMARY, ServeHooks, serveHelp } from './serve';
import { CliIO, CommandName, COMMANDS, getTask, listTasks, TaskCommand, TaskDefinition } from './tasks';
import { classifyTask } from './classify';
import { g2pTask } from './g2p';
import { seq2seqTask } from './seq2seq';
import { lmTask } from './lm';
import { registerTask } from './tasks';

export const PROGRAM = 'transformer-native';

registerTask(lmTask);
registerTask(classifyTask);
registerTask(g2pTask);
registerTask(seq2seqTask);

const CONFIG_OPTION: OptionSpec = {
  name: 'config',
  type: 'string',
  placeholder: 'FILE',
  description: 'JSON file of options (camelCase keys); flags override it',
  flagOnly: true,
};
const TASK_OPTION: OptionSpec = {
  name: 'task',
  type: 'string',
  placeholder: 'NAME',
  description: 'the task',
  flagOnly: true,
};

const COMMAND_SUMMARIES: Record<CommandName, string> = {
  train: 'train a model (writes checkpoints, metrics.jsonl and loss.svg)',
  eval: 'evaluate a checkpoint',
  predict: 'run a checkpoint on inputs',
  generate: 'generate text from a checkpoint',
};

function packageVersion(): string {
  for (const candidate of [
    path.join(__dirname, '..', '..', 'package.json'),
    path.join(__dirname, '..', 'package.json'),
  ]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PROGRAM && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

function tasksWith(command: CommandName): TaskDefinition[] {
  return listTasks().filter((t) => t.commands[command] !== undefined);
}

function mainHelp(): string {
  const tasks = listTasks();
  const width = Math.max(10, ...tasks.map((t) => t.name.length + 2));
  return [
    `Usage: ${PROGRAM} <command> --task NAME [options]`,
    `       ${PROGRAM} <task> <command> [options]`,
    `       ${PROGRAM} serve --checkpoint DIR [options]`,
    `       ${PROGRAM} export --checkpoint DIR --format onnx --out FILE [options]`,
    '',
    'Train and run Transformers from the command line.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.padEnd(width)}${COMMAND_SUMMARIES[c]}`),
    `  ${'serve'.padEnd(width)}${SERVE_SUMMARY} (any task; --checkpoint DIR)`,
    `  ${'export'.padEnd(width)}${EXPORT_SUMMARY}`,
    '',
    'Tasks:',
    ...tasks.map((t) => `  ${t.name.padEnd(width)}${t.description} (${Object.keys(t.commands).join(', ')})`),
    '',
    'Options:',
    '  -h, --help      show help (also after a command: train --help, train --task lm --help)',
    '  --version       show the version',
    '',
    `Commands that take --checkpoint find the task in the checkpoint. Options can come from a JSON file`,
    `(--config FILE, camelCase keys); flags given on the command line override it.`,
    '',
  ].join('\n');
}

function commandHelp(command: CommandName): string {
  const tasks = tasksWith(command);
  return [
    `Usage: ${PROGRAM} ${command} --task NAME [options]`,
    '',
    `${COMMAND_SUMMARIES[command]}.`,
    '',
    'Tasks:',
    ...tasks.map((t) => `  ${t.name.padEnd(12)}${t.commands[command]?.summary}`),
    '',
    `Run '${PROGRAM} ${command} --task NAME --help' for the options of a task.`,
    '',
  ].join('\n');
}

function taskCommandHelp(task: TaskDefinition, command: CommandName, spec: TaskCommand): string {
  return [
    `Usage: ${PROGRAM} ${command} --task ${task.name} [options]${spec.positionals ? ` ${spec.positionals}` : ''}`,
    `       ${PROGRAM} ${task.name} ${command} [options]${spec.positionals ? ` ${spec.positionals}` : ''}`,
    '',
    `${spec.summary} (${task.description}).`,
    '',
    'Options:',
    formatOptions([...spec.options, CONFIG_OPTION]),
    ...(spec.details ? ['', spec.details] : []),
    '',
  ].join('\n');
}

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT' ? `config file not found: ${file}` : `cannot read config file ${file}: ${(e as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new UserError(`config file ${file} must hold a JSON object`);
  return json as Record<string, unknown>;
}

export interface MainOptions {
  /** Registers a stop handler (the program passes one wired to SIGINT). */
  onInterrupt?: (handler: () => void) => void;
  /** For `serve` run in-process: how the model is loaded, and a call once the server listens. */
  serve?: Pick<ServeHooks, 'load' | 'onListening'>;
}

/** The options of a command that is not a task's (serve, export), flags over its --config file; null when
 * --help was asked for (and printed). */
function checkpointCommandOptions(
  command: string,
  specs: OptionSpec[],
  help: string,
  args: string[],
  io: CliIO,
): OptionValues | null {
  const parsed = parseArgs(args, [...specs, CONFIG_OPTION], command);
  if (parsed.help) {
    io.stdout.write(help);
    return null;
  }
  if (parsed.positionals.length > 0)
    throw new UserError(`unexpected argument '${parsed.positionals[0]}' for '${command}' (options start with --)`, 2);
  const configFile = parsed.values[camelCase(CONFIG_OPTION.name)] as string | undefined;
  const config = configFile === undefined ? null : readConfig(configFile);
  return resolveOptions(specs, parsed, config, `config file ${configFile}`);
}

/** `serve --checkpoint DIR [options]`: not a task's command, since it serves a checkpoint of any task. */
async function serve(args: string[], io: CliIO, options: MainOptions): Promise<number> {
  const values = checkpointCommandOptions('serve', SERVE_OPTIONS, serveHelp(PROGRAM, [CONFIG_OPTION]), args, io);
  if (values === null) return 0;
  return runServe(values, io, { onInterrupt: options.onInterrupt ?? (() => undefined), ...options.serve });
}

/** `export --checkpoint DIR --format onnx --out FILE`: like serve, a command on a checkpoint of any task. */
function exportCommand(args: string[], io: CliIO): number {
  const values = checkpointCommandOptions('export', EXPORT_OPTIONS, exportHelp(PROGRAM, [CONFIG_OPTION]), args, io);
  return values === null ? 0 : runExport(values, io);
}

/** Runs the CLI on argv (without the node and script paths); resolves to the exit code. */
export async function main(
  argv: readonly string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr },
  options: MainOptions = {},
): Promise<number> {
  let command: CommandName | undefined;
  let taskName: string | undefined;
  let serving = false;
  let exporting = false;
  try {
    const args = [...argv];
    if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
      io.stdout.write(mainHelp());
      return args.length === 0 ? 2 : 0;
    }
    if (args[0] === '--version' || args[0] === '-v') {
      io.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    // `<task> <command>` or `<command> --task NAME`.
    if (getTask(args[0]) !== undefined) {
      taskName = args.shift() as string;
      if (args.length === 0 || args[0] === '--help' || args[0] === '-h') {
        const task = getTask(taskName) as TaskDefinition;
        io.stdout.write(
          `Usage: ${PROGRAM} ${task.name} <command> [options]\n\n${task.description}.\n\nCommands:\n${Object.entries(
            task.commands,
          )
            .map(([c, s]) => `  ${c.padEnd(10)}${s?.summary}`)
            .join('\n')}\n`,
        );
        return args.length === 0 ? 2 : 0;
      }
    }
    const first = args.shift() as string;
    if (first === 'serve') {
      if (taskName !== undefined)
        throw new UserError(`'serve' takes no task: it serves the task of the checkpoint it is given`, 2);
      serving = true;
      return await serve(args, io, options);
    }
    if (first === 'export') {
      if (taskName !== undefined)
        throw new UserError(`'export' takes no task: it exports the model of the checkpoint it is given`, 2);
      exporting = true;
      return exportCommand(args, io);
    }
    if (!(COMMANDS as readonly string[]).includes(first)) {
      const known = [...COMMANDS, 'serve', 'export', ...listTasks().map((t) => t.name)];
      throw new UserError(
        `unknown command '${first}'${suggestion(first, known)}. Run '${PROGRAM} --help' for the commands.`,
        2,
      );
    }
    command = first as CommandName;

    // --task (and --checkpoint, for inference) can pick the task; find them before the task's own parse.
    for (const value of findOptionValues(args, TASK_OPTION.name)) {
      if (value.length === 0) throw new UserError("option '--task' needs a value", 2);
      if (taskName !== undefined && value !== taskName)
        throw new UserError(`the task is given twice: '${taskName}' and --task ${value}`, 2);
      taskName = value;
    }
    // The full parse keeps the last --checkpoint given, so its task is the one to read.
    const checkpointDir = taskName === undefined ? findOptionValues(args, 'checkpoint').at(-1) : undefined;
    if (checkpointDir !== undefined) taskName = checkpointTask(checkpointDir) ?? undefined;
    const wantsHelp = args.includes('--help') || args.includes('-h');
    if (taskName === undefined) {
      if (wantsHelp) {
        io.stdout.write(commandHelp(command));
        return 0;
      }
      const names = tasksWith(command).map((t) => t.name);
      throw new UserError(`'${command}' needs --task NAME (one of ${names.join(', ')})`, 2);
    }
    const task = getTask(taskName);
    if (task === undefined)
      throw new UserError(
        `unknown task '${taskName}'${suggestion(
          taskName,
          listTasks().map((t) => t.name),
        )}; tasks: ${listTasks()
          .map((t) => t.name)
          .join(', ')}`,
        2,
      );
    const spec = task.commands[command];
    if (spec === undefined)
      throw new UserError(
        `task '${task.name}' has no '${command}' command (it has ${Object.keys(task.commands).join(', ')})`,
        2,
      );

    const specs = [...spec.options, CONFIG_OPTION, TASK_OPTION];
    const parsed = parseArgs(args, specs, `${command} --task ${task.name}`);
    if (parsed.help) {
      io.stdout.write(taskCommandHelp(task, command, spec));
      return 0;
    }
    if (parsed.positionals.length > 0 && spec.positionals === undefined)
      throw new UserError(`unexpected argument '${parsed.positionals[0]}' for '${command}' (options start with --)`, 2);
    const configFile = parsed.values[camelCase(CONFIG_OPTION.name)] as string | undefined;
    const config = configFile === undefined ? null : readConfig(configFile);
    const values = resolveOptions(spec.options, parsed, config, `config file ${configFile}`);
    const code = await spec.run({
      options: values,
      positionals: parsed.positionals,
      io,
      onInterrupt: options.onInterrupt ?? (() => undefined),
    });
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    const err = e as Error;
    if (err instanceof UserError) {
      io.stderr.write(`${PROGRAM}: error: ${err.message}\n`);
      if (err.exitCode === 2 && serving) io.stderr.write(`Run '${PROGRAM} serve --help' for usage.\n`);
      if (err.exitCode === 2 && exporting) io.stderr.write(`Run '${PROGRAM} export --help' for usage.\n`);
      if (err.exitCode === 2 && command !== undefined) {
        const known = taskName !== undefined && getTask(taskName)?.commands[command] !== undefined;
        io.stderr.write(`Run '${PROGRAM} ${command}${known ? ` --task ${taskName}` : ''} --help' for usage.\n`);
      }
      return err.exitCode;
    }
    // Errors from the library name the function and the values; the stack only helps when debugging.
    io.stderr.write(`${PROGRAM}: error: ${err?.message ?? String(e)}\n`);
    if (process.env.TN_DEBUG) io.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}
