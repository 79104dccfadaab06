// The code that runs inside ModelWorker's worker thread: it loads the checkpoint, then answers the main
// thread's requests. lm requests are decoded together by a ContinuousBatcher: a scheduler loop runs one
// decoding step, posts the step's tokens, and yields to this thread's event loop (setImmediate) before the
// next step, so requests and cancellations that arrived meanwhile take effect at the next step.
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { getNumThreads, memory, setNumThreads } from '../backend';
import { classProbabilities, labelsOf } from '../cli/classify';
import { checkpointTask, loadModel, readJSONFile, resolveCheckpoint, tokenizerOf } from '../cli/common';
import { tokenizersOf } from '../cli/g2p';
import { noGrad } from '../autograd';
import type { Tokenizer } from '../data/tokenizers';
import { ContinuousBatcher } from '../generation/batch';
import type { EncoderClassifier, GPT, Model, Seq2SeqTransformer } from '../models';
import { predictG2P } from '../tasks/g2p/task';
import type { G2PTokenizers } from '../tasks/g2p/data';
import { FromWorker, StepEvent, ToWorker, toWireError, WireGenerateOptions, WorkerInit } from './protocol';
import { TokenText } from './text';
import type { ModelInfo, PredictOutput, ServeTask } from './types';

const MODEL_TYPES: Record<ServeTask, string> = { lm: 'GPT', g2p: 'Seq2SeqTransformer', classify: 'EncoderClassifier' };

/** Beam width of g2p predictions, as `g2p predict` uses by default. */
const G2P_BEAM_SIZE = 5;
/** Texts classified per forward. */
const CLASSIFY_BATCH = 64;

const port = parentPort;
if (port === null) throw new Error('worker_main runs inside a worker thread (ModelWorker starts it)');

function post(message: FromWorker): void {
  port?.postMessage(message);
}

/** The task of a checkpoint: from its metadata (CLI training runs store it), else from its model type. */
function taskOf(dir: string): ServeTask {
  const resolved = resolveCheckpoint(dir);
  const task = checkpointTask(resolved);
  if (task === 'lm' || task === 'g2p' || task === 'classify') return task;
  if (task !== null)
    throw new Error(
      `checkpoint ${resolved} was trained for the task '${task}'; a ModelWorker serves lm, g2p and classify`,
    );
  const config = readJSONFile(path.join(resolved, 'config.json'), 'model config') as { type?: unknown } | null;
  const type = config?.type;
  const found = (Object.keys(MODEL_TYPES) as ServeTask[]).find((t) => MODEL_TYPES[t] === type);
  if (found === undefined)
    throw new Error(`checkpoint ${resolved} holds a model of type ${String(type)}, which a ModelWorker cannot serve`);
  return found;
}

interface Loaded {
  task: ServeTask;
  model: Model;
  info: ModelInfo;
  /** lm and classify. */
  tokenizer?: Tokenizer;
  /** g2p. */
  g2pTokenizers?: G2PTokenizers;
}

function load(init: WorkerInit): Loaded {
  if (init.threads !== null) setNumThreads(init.threads);
  const task = taskOf(init.checkpoint);
  const { model, checkpoint } = loadModel(init.checkpoint, MODEL_TYPES[task]);
  try {
    const loaded: Loaded = {
      task,
      model,
      info: {
        task,
        checkpoint: checkpoint.dir,
        model: { type: MODEL_TYPES[task], parameters: model.numParameters() },
        threads: getNumThreads(),
        maxBatch: init.maxBatch,
        maxQueue: init.maxQueue,
      },
    };
    const about = loaded.info.model;
    if (task === 'lm') {
      const { contextLength, vocabSize } = (model as GPT).config;
      loaded.tokenizer = tokenizerOf(checkpoint);
      Object.assign(about, { contextLength, vocabSize });
    } else if (task === 'g2p') {
      loaded.g2pTokenizers = tokenizersOf(checkpoint);
      about.contextLength = (model as Seq2SeqTransformer).config.maxLen;
    } else {
      const { maxLen, vocabSize } = (model as EncoderClassifier).config;
      loaded.tokenizer = tokenizerOf(checkpoint);
      Object.assign(about, { contextLength: maxLen, vocabSize, labels: labelsOf(checkpoint.metadata, checkpoint.dir) });
    }
    return loaded;
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    // The model holds its own copy of the weights; the checkpoint's tensors (and any optimizer state) go.
    checkpoint.dispose();
  }
}

interface Generation {
  text: TokenText;
  promptTokens: number;
  stream: boolean;
}

/** lm: the batcher and the scheduler loop that drives it. */
class Generator {
  private readonly batcher: ContinuousBatcher;
  private readonly requests = new Map<number, Generation>();
  private scheduled = false;
  private lastBatch = 0;

  constructor(
    private readonly model: GPT,
    private readonly tokenizer: Tokenizer,
    maxBatch: number,
  ) {
    this.batcher = new ContinuousBatcher(model, { maxBatch });
  }

  get sequences(): number {
    return this.batcher.size;
  }

  get batchSize(): number {
    return this.lastBatch;
  }

  /** Queues a request; its tokens come from the following steps. Throws on a prompt that does not fit. */
  add(id: number, prompt: string, options: WireGenerateOptions, stream: boolean): void {
    const ids = this.tokenizer.encode(prompt);
    const { contextLength } = this.model.config;
    if (ids.length === 0) throw new RangeError('the prompt encodes to no tokens');
    if (ids.length > contextLength)
      throw new RangeError(
        `the prompt has ${ids.length} tokens, more than the model's context of ${contextLength} tokens`,
      );
    if (options.fitContext && ids.length + options.maxTokens > contextLength)
      throw new RangeError(
        `the model's context is ${contextLength} tokens, but ${ids.length + options.maxTokens} were requested ` +
          `(${ids.length} in the prompt, ${options.maxTokens} for the completion): shorten the prompt or max_tokens`,
      );
    this.batcher.add(id, ids, {
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      topK: options.topK,
      topP: options.topP,
      seed: options.seed,
      eosId: this.tokenizer.eosId,
    });
    const text = new TokenText((tokens) => this.tokenizer.decode(tokens), options.stop);
    this.requests.set(id, { text, promptTokens: ids.length, stream });
    this.schedule();
  }

  /** Drops a request and frees its cache; false when it was not running (finished already, or unknown). */
  cancel(id: number): boolean {
    this.batcher.cancel(id);
    return this.requests.delete(id);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.step();
    });
  }

  /** One decoding step for every running request; each request's released text goes out in one message. */
  private step(): void {
    if (this.batcher.size === 0) {
      this.lastBatch = 0;
      return;
    }
    let tokens;
    try {
      tokens = this.batcher.step();
    } catch (e) {
      // A failed step leaves the batch in an unknown state: every request in it fails.
      for (const id of this.requests.keys()) {
        this.batcher.cancel(id);
        post({ type: 'error', id, error: toWireError(e) });
      }
      this.requests.clear();
      this.lastBatch = 0;
      return;
    }
    this.lastBatch = tokens.length;
    const events: StepEvent[] = [];
    for (const t of tokens) {
      const r = this.requests.get(t.id);
      if (r === undefined) continue;
      const chunks = [];
      let finish = t.finish;
      if (t.token !== null) {
        const pushed = r.text.push(t.token);
        chunks.push(...pushed.chunks);
        if (pushed.stopped) {
          if (finish === null) this.batcher.cancel(t.id);
          finish = 'stop';
        } else if (finish !== null) chunks.push(...r.text.finish());
      } else if (finish !== null) chunks.push(...r.text.finish());
      const event: StepEvent = { id: t.id };
      if (r.stream && chunks.length > 0) event.chunks = chunks;
      if (finish !== null) {
        event.result = { text: r.text.text, tokens: r.text.tokens, finishReason: finish, promptTokens: r.promptTokens };
        this.requests.delete(t.id);
      }
      if (event.chunks !== undefined || event.result !== undefined) events.push(event);
    }
    if (events.length > 0) post({ type: 'step', events });
    if (this.batcher.size > 0) this.schedule();
    else this.lastBatch = 0;
  }
}

function predict(loaded: Loaded, inputs: string[]): PredictOutput[] {
  const { task, model, tokenizer, g2pTokenizers } = loaded;
  if (task === 'g2p' && g2pTokenizers !== undefined) {
    const phonemes = noGrad(() =>
      predictG2P(model as Seq2SeqTransformer, g2pTokenizers, inputs, { beamSize: G2P_BEAM_SIZE }),
    );
    return phonemes.map((p) => p.join(' '));
  }
  if (task === 'classify' && tokenizer !== undefined) {
    const labels = loaded.info.model.labels as string[];
    const probabilities = classProbabilities(model as EncoderClassifier, tokenizer, inputs, CLASSIFY_BATCH);
    return probabilities.map((p) => {
      const best = p.indexOf(Math.max(...p));
      return { label: labels[best], probabilities: Object.fromEntries(labels.map((l, i) => [l, p[i]])) };
    });
  }
  throw new Error(`predict() serves g2p and classify models; this checkpoint's task is ${task} (use generate)`);
}

function serve(loaded: Loaded, maxBatch: number): void {
  const generator =
    loaded.task === 'lm' && loaded.tokenizer !== undefined
      ? new Generator(loaded.model as GPT, loaded.tokenizer, maxBatch)
      : null;
  port?.on('message', (message: ToWorker) => {
    const id = message.id;
    try {
      switch (message.type) {
        case 'generate':
          if (generator === null)
            throw new Error(
              `generate() and stream() serve lm models; this checkpoint's task is ${loaded.task} (use predict)`,
            );
          generator.add(id, message.prompt, message.options, message.stream);
          break;
        case 'predict':
          post({ type: 'predicted', id, outputs: predict(loaded, message.inputs) });
          break;
        case 'cancel':
          generator?.cancel(id);
          post({ type: 'cancelled', id });
          break;
        case 'stats':
          post({
            type: 'stats',
            id,
            sequences: generator?.sequences ?? 0,
            batchSize: generator?.batchSize ?? 0,
            storages: memory().undisposedStorages,
          });
          break;
      }
    } catch (e) {
      post({ type: 'error', id, error: toWireError(e) });
    }
  });
}

function main(): void {
  const init = workerData as WorkerInit;
  let loaded: Loaded;
  try {
    loaded = load(init);
  } catch (e) {
    // Closing the port lets the thread end once the message is out.
    post({ type: 'loadError', error: toWireError(e) });
    port?.close();
    return;
  }
  post({ type: 'ready', info: loaded.info });
  serve(loaded, init.maxBatch);
}

main();
