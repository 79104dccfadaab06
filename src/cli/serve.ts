// `transformer-native serve --checkpoint DIR`: loads the checkpoint (any task) into a ModelWorker and answers
// HTTP on it until SIGTERM or SIGINT, then lets the requests in flight finish within the grace period and
// exits 0.
import { InferenceServer, ServeModel } from '../serve/http';
import type { ModelWorkerOptions } from '../serve/types';
import { SupervisedModelWorker } from '../serve/supervisor';
import { formatOptions, OptionSpec, OptionValues, UserError } from './args';
import { resolveCheckpoint } from './common';
import type { CliIO } from './tasks';

export const SERVE_OPTIONS: OptionSpec[] = [
  {
    name: 'checkpoint',
    type: 'string',
    placeholder: 'DIR',
    description: 'checkpoint folder, or a training --out folder (its best checkpoint); any task',
    required: true,
  },
  { name: 'host', type: 'string', default: '127.0.0.1', description: 'address to listen on' },
  { name: 'port', type: 'integer', min: 0, max: 65535, default: 8080, description: 'port (0: any free port)' },
  {
    name: 'max-batch',
    type: 'integer',
    min: 1,
    default: 16,
    description: 'most sequences decoded together in one step (lm)',
  },
  {
    name: 'max-queue',
    type: 'integer',
    min: 1,
    default: 64,
    description: 'most requests running or waiting; more get 429',
  },
  { name: 'threads', type: 'integer', min: 1, description: "the kernels' threads (default: the core count)" },
  {
    name: 'grace-period',
    type: 'number',
    min: 0,
    default: 30,
    placeholder: 'SECONDS',
    description: 'on SIGTERM/SIGINT, how long requests in flight may take to finish',
  },
];

export const SERVE_SUMMARY = 'serve a checkpoint over HTTP (OpenAI-style completions, predict, metrics)';

export const SERVE_DETAILS = [
  'Routes: GET /health, GET /metrics, GET /v1/models, POST /v1/completions (lm), POST /v1/predict (g2p, classify).',
  '',
  'Example:',
  '  transformer-native serve --checkpoint runs/lm --port 8080',
  '  curl http://127.0.0.1:8080/v1/completions -H "Content-Type: application/json" \\',
  '    -d \'{"prompt": "Once upon", "max_tokens": 32}\'',
].join('\n');

export function serveHelp(program: string, extra: readonly OptionSpec[]): string {
  return [
    `Usage: ${program} serve --checkpoint DIR [options]`,
    '',
    `${SERVE_SUMMARY[0].toUpperCase()}${SERVE_SUMMARY.slice(1)}.`,
    '',
    'Options:',
    formatOptions([...SERVE_OPTIONS, ...extra]),
    '',
    SERVE_DETAILS,
    '',
  ].join('\n');
}

/** A loaded model the command can serve and close. */
export type ClosableModel = ServeModel & { close(): Promise<void> | void };

export interface ServeHooks {
  /** Registers the stop handler (SIGINT when run as a program). */
  onInterrupt: (handler: () => void) => void;
  /** Loads the model (default SupervisedModelWorker.load). */
  load?: (dir: string, options: ModelWorkerOptions) => Promise<ClosableModel>;
  /** Called once the server listens (tests read the port here). */
  onListening?: (server: InferenceServer) => void;
}

/** Runs the server until a stop signal; resolves to the exit code. */
export async function runServe(options: OptionValues, io: CliIO, hooks: ServeHooks): Promise<number> {
  const dir = resolveCheckpoint(options.checkpoint as string);
  // A worker thread that dies is started again by the next request (see SupervisedModelWorker).
  const load =
    hooks.load ??
    ((d: string, o: ModelWorkerOptions) =>
      SupervisedModelWorker.load(d, o, { log: (line) => io.stderr.write(`${line}\n`) }));
  const model = await load(dir, {
    threads: options.threads as number | undefined,
    maxBatch: options.maxBatch as number,
    maxQueue: options.maxQueue as number,
  });
  let server: InferenceServer;
  try {
    server = await InferenceServer.start(model, { host: options.host as string, port: options.port as number });
  } catch (e) {
    await model.close();
    const error = e as NodeJS.ErrnoException;
    if (error.code === 'EADDRINUSE')
      throw new UserError(`port ${options.port as number} on ${options.host as string} is already in use`);
    if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
      throw new UserError(`cannot listen on ${options.host as string}: ${error.message}`);
    throw e;
  }
  const info = server.info;
  io.stdout.write(
    `serving ${info.task} model '${server.modelName}' (${info.model.type}, ` +
      `${info.model.parameters.toLocaleString('en-US')} parameters) from ${info.checkpoint} on ${server.url}\n`,
  );
  hooks.onListening?.(server);

  const grace = (options.gracePeriod as number) * 1000;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      process.off('SIGTERM', onTerm);
      io.stderr.write(
        `${why}: finishing ${server.activeRequests} request${server.activeRequests === 1 ? '' : 's'} in flight ` +
          `(grace period ${options.gracePeriod as number} s)\n`,
      );
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    process.on('SIGTERM', onTerm);
    hooks.onInterrupt(() => stop('SIGINT'));
  });
  await server.close(grace);
  await model.close();
  io.stderr.write('server closed\n');
  return 0;
}
