// The messages between ModelWorker (main thread) and its worker thread. Requests carry an id chosen by the main
// thread; every request gets exactly one final answer (done, error or cancelled) unless the worker dies.
import type { GenerateResult, ModelInfo, PredictOutput, StreamChunk } from './types';

/** What the worker is started with (workerData). */
export interface WorkerInit {
  checkpoint: string;
  threads: number | null;
  maxBatch: number;
  maxQueue: number;
}

/** The sampling and stopping options of a generate request, checked by the main thread. */
export interface WireGenerateOptions {
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stop: string[];
  fitContext: boolean;
}

export type ToWorker =
  | { type: 'generate'; id: number; prompt: string; options: WireGenerateOptions; stream: boolean }
  | { type: 'predict'; id: number; inputs: string[] }
  | { type: 'cancel'; id: number }
  | { type: 'stats'; id: number };

/** An error as it crosses threads: Error subclasses do not survive structured cloning with their class. */
export interface WireError {
  name: string;
  message: string;
}

/** One request's share of a decoding step: its released text chunks, and its result when it finished. */
export interface StepEvent {
  id: number;
  chunks?: StreamChunk[];
  result?: GenerateResult;
}

export type FromWorker =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'loadError'; error: WireError }
  | { type: 'step'; events: StepEvent[] }
  | { type: 'predicted'; id: number; outputs: PredictOutput[] }
  | { type: 'stats'; id: number; sequences: number; batchSize: number; storages: number }
  | { type: 'error'; id: number; error: WireError }
  | { type: 'cancelled'; id: number };

export function toWireError(e: unknown): WireError {
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** The Error a WireError stands for: a TypeError or RangeError keeps its class, others keep their name. */
export function fromWireError(wire: WireError): Error {
  const ErrorClass = wire.name === 'TypeError' ? TypeError : wire.name === 'RangeError' ? RangeError : Error;
  const error = new ErrorClass(wire.message);
  if (error.name !== wire.name) error.name = wire.name;
  return error;
}
