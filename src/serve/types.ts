// The contract of the serving runtime: what ModelWorker (a model in a worker thread) offers its callers, the
// library API and the HTTP server alike.

export type ServeTask = 'lm' | 'g2p' | 'classify';

export interface ModelWorkerOptions {
  /** Threads of the kernels' pool (process-wide; default: the core count). */
  threads?: number;
  /** Most sequences decoded together in one batched step (lm; default 16). */
  maxBatch?: number;
  /** Most requests accepted and not yet finished; more are refused with a QueueFullError (default 64). */
  maxQueue?: number;
}

export interface GenerateOptions {
  /** New tokens at most (default 128). */
  maxTokens?: number;
  /** 0 (default) is greedy; above 0 samples. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Generation stops before the first of these strings; the text returned does not include it. */
  stop?: string[];
  /** Refuse (RangeError) a prompt whose tokens plus maxTokens exceed the model's context, instead of cutting
   * the generation at the context ('length'). Default false; the HTTP server sets it, as OpenAI's API refuses
   * such requests with a 400. */
  fitContext?: boolean;
  /** Aborting ends the request within one decoding step: generate() rejects with an AbortError, a stream
   * ends, and the request's cache is freed. */
  signal?: AbortSignal;
}

export interface GenerateResult {
  text: string;
  /** The generated token ids. */
  tokens: number[];
  finishReason: 'stop' | 'length';
  /** Token counts for usage reports. */
  promptTokens: number;
}

export interface StreamChunk {
  token: number;
  text: string;
}

export type PredictOutput = string | { label: string; probabilities: Record<string, number> };

export interface ModelInfo {
  task: ServeTask;
  /** The checkpoint folder the model came from. */
  checkpoint: string;
  model: {
    type: string;
    parameters: number;
    contextLength?: number;
    vocabSize?: number;
    /** classify: the label names, in class order. */
    labels?: string[];
  };
  threads: number;
  maxBatch: number;
  maxQueue: number;
}

/** What a ModelWorker holds now (for metrics, and to see that finished or cancelled requests let go). */
export interface WorkerStats {
  /** Requests accepted and not yet finished (what maxQueue bounds). */
  requests: number;
  /** lm: sequences in the decoding batch or waiting for a row of it. */
  sequences: number;
  /** lm: rows of the last decoding step (0 when idle). */
  batchSize: number;
  /** Tensor storages alive in the worker (the model's weights, KV caches of running sequences). */
  storages: number;
}
