// The task registry: each task (lm, classify, g2p...) supplies the commands it supports, with their options.
// The CLI finds a task by `--task NAME`, by `transformer-native NAME COMMAND`, or (for commands that take a
// checkpoint) from the task name stored in the checkpoint.
import type { OptionSpec, OptionValues } from './args';

export const COMMANDS = ['train', 'eval', 'predict', 'generate'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The streams a command writes to (process.stdout/stderr when run as a program). */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface CommandContext {
  /** Options merged from defaults, --config and flags, keyed by camelCase name. */
  options: OptionValues;
  /** Arguments that are not options (e.g. words to predict). */
  positionals: string[];
  io: CliIO;
  /** Resolves when the user asks to stop (SIGINT when run as a program); a training loop stops and saves. */
  onInterrupt: (handler: () => void) => void;
}

export interface TaskCommand {
  /** One line for the command list. */
  summary: string;
  /** Command-specific options (the CLI adds --config and --task). */
  options: readonly OptionSpec[];
  /** How positionals are shown in the usage line, e.g. '[WORD...]'. */
  positionals?: string;
  /** Extra help text (examples). */
  details?: string;
  /** Returns the exit code (default 0). Throw UserError for bad input. */
  run(context: CommandContext): Promise<number | void> | number | void;
}

export interface TaskDefinition {
  name: string;
  description: string;
  commands: Partial<Record<CommandName, TaskCommand>>;
}

const registry = new Map<string, TaskDefinition>();

const TASK_NAME = /^[a-z][a-z0-9-]*$/;

/** Adds a task (or replaces one of the same name). */
export function registerTask(task: TaskDefinition): void {
  if (task === null || typeof task !== 'object' || typeof task.name !== 'string' || !TASK_NAME.test(task.name))
    throw new TypeError(
      `registerTask: a task needs a lowercase name of letters, digits and '-', got ${JSON.stringify(task?.name)}`,
    );
  if ((COMMANDS as readonly string[]).includes(task.name))
    throw new RangeError(`registerTask: '${task.name}' is a command name, not a task name`);
  for (const [name, command] of Object.entries(task.commands ?? {})) {
    if (!(COMMANDS as readonly string[]).includes(name))
      throw new RangeError(`registerTask: ${task.name}: unknown command '${name}' (expected ${COMMANDS.join(', ')})`);
    if (typeof command?.run !== 'function')
      throw new TypeError(`registerTask: ${task.name} ${name}: run must be a function`);
  }
  registry.set(task.name, task);
}

export function getTask(name: string): TaskDefinition | undefined {
  return registry.get(name);
}

export function listTasks(): TaskDefinition[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Removes a task (tests register temporary ones). */
export function unregisterTask(name: string): boolean {
  return registry.delete(name);
}
