// POST /v1/completions for language models: a subset of OpenAI's completions API. Without `stream` the answer
// is one JSON object; with `stream: true` it is server-sent events, one `data: {...}` chunk per token, a last
// chunk that carries the finish reason, and `data: [DONE]`. A client that goes away cancels its sequence.
import type { ServerResponse } from 'node:http';
import { fromModelError, HttpError, isAbortError } from './errors';
import { InferenceServer, RequestContext, sendJson } from './http';
import { anyOf, array, boolean, Check, integer, number, ObjectSchema, string, validate } from './schema';
import type { GenerateOptions, GenerateResult, ModelInfo, StreamChunk } from './types';

/** OpenAI's default of max_tokens for completions. */
export const DEFAULT_MAX_TOKENS = 16;
/** Most stop strings (as OpenAI). */
export const MAX_STOP = 4;

export interface CompletionRequest {
  model?: string;
  prompt: string | [string];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  seed?: number;
  stop?: string | string[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  user?: string;
}

const nonEmpty = string({ minLength: 1 });

/** stream_options: `{ include_usage: boolean }`, the one option of OpenAI's. */
const streamOptions: Check = (value) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'must be an object such as { "include_usage": true }';
  const unknown = Object.keys(value).filter((k) => k !== 'include_usage');
  if (unknown.length > 0) return `holds unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`;
  const include = (value as { include_usage?: unknown }).include_usage;
  return include === undefined || include === null || typeof include === 'boolean'
    ? null
    : 'include_usage must be true or false';
};

/** The schema for a model of this context length: max_tokens may not exceed it. */
export function completionSchema(info: ModelInfo): ObjectSchema {
  const contextLength = info.model.contextLength ?? 65536;
  return {
    fields: {
      model: string(),
      prompt: anyOf('a string or an array of one string', nonEmpty, array(nonEmpty, { minItems: 1, maxItems: 1 })),
      max_tokens: integer({ min: 1, max: contextLength }),
      temperature: number({ min: 0, max: 2 }),
      top_p: number({ min: 0, max: 1, exclusiveMin: true }),
      top_k: integer({ min: 0 }),
      seed: integer({ min: 0 }),
      stop: anyOf(
        `a string or an array of at most ${MAX_STOP} strings`,
        nonEmpty,
        array(nonEmpty, { maxItems: MAX_STOP }),
      ),
      stream: boolean(),
      stream_options: streamOptions,
      // An end user's id, for the operator's logs in OpenAI's API; accepted and not used.
      user: string({ maxLength: 256 }),
    },
    required: ['prompt'],
    // OpenAI's fields this server does not implement; the value that asks for what it does anyway passes.
    unsupported: {
      n: (v) => (v === 1 ? null : "'n' other than 1"),
      best_of: (v) => (v === 1 ? null : "'best_of' other than 1"),
      echo: (v) => (v === false ? null : "'echo'"),
      suffix: () => "'suffix'",
      logprobs: () => "'logprobs'",
      presence_penalty: (v) => (v === 0 ? null : "'presence_penalty' other than 0"),
      frequency_penalty: (v) => (v === 0 ? null : "'frequency_penalty' other than 0"),
      logit_bias: (v) =>
        v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 ? null : "'logit_bias'",
    },
  };
}

const schemas = new WeakMap<ModelInfo, ObjectSchema>();

function schemaOf(info: ModelInfo): ObjectSchema {
  let schema = schemas.get(info);
  if (schema === undefined) {
    schema = completionSchema(info);
    schemas.set(info, schema);
  }
  return schema;
}

/** The worker's options for a checked request. */
export function generateOptions(request: CompletionRequest, signal: AbortSignal): GenerateOptions {
  const stop = request.stop ?? null;
  return {
    maxTokens: request.max_tokens ?? DEFAULT_MAX_TOKENS,
    temperature: request.temperature ?? 1,
    topK: request.top_k ?? undefined,
    topP: request.top_p ?? undefined,
    seed: request.seed ?? undefined,
    stop: stop === null ? undefined : typeof stop === 'string' ? [stop] : stop,
    fitContext: true,
    signal,
  };
}

export async function completions(context: RequestContext): Promise<void> {
  const { server, info, body, signal } = context;
  if (info.task !== 'lm')
    throw new HttpError(
      404,
      `POST /v1/completions serves language models; this server runs a ${info.task} model (use POST /v1/predict)`,
      'not_found_error',
    );
  const request = await body();
  const problems = validate(request, schemaOf(info));
  if (problems.length > 0)
    throw new HttpError(400, problems.map((p) => p.message).join('; '), 'invalid_request_error', problems[0].param);
  const checked = request as CompletionRequest;
  const prompt = typeof checked.prompt === 'string' ? checked.prompt : checked.prompt[0];
  const options = generateOptions(checked, signal);
  const head = {
    id: InferenceServer.id('cmpl'),
    object: 'text_completion' as const,
    created: Math.floor(Date.now() / 1000),
    model: checked.model ?? server.modelName,
  };
  if (checked.stream === true)
    await streamed(context, prompt, options, head, checked.stream_options?.include_usage === true);
  else if (checked.stream_options !== undefined && checked.stream_options !== null)
    throw new HttpError(400, "'stream_options' needs 'stream': true", 'invalid_request_error', 'stream_options');
  else await whole(context, prompt, options, head);
}

interface Head {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
}

/** An abort's error: the shutdown's 503 when the grace period ended, else null (the client is gone). */
function abortAnswer(signal: AbortSignal): HttpError | null {
  return signal.reason instanceof HttpError ? signal.reason : null;
}

/** The answer to a failed model call: the abort's (null when the client is gone) or the model error's. */
function failure(error: unknown, signal: AbortSignal, retryAfter: number): HttpError | null {
  return isAbortError(error) || signal.aborted ? abortAnswer(signal) : fromModelError(error, retryAfter);
}

function usage(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

async function whole(
  { res, server, signal }: RequestContext,
  prompt: string,
  options: GenerateOptions,
  head: Head,
): Promise<void> {
  const started = performance.now();
  let result;
  try {
    result = await server.call(() => server.model.generate(prompt, options));
  } catch (error) {
    const answer = failure(error, signal, server.retryAfter);
    if (answer !== null) throw answer;
    return;
  }
  const completion = result.tokens.length;
  server.metrics.tokens.inc(completion);
  server.metrics.promptTokens.inc(result.promptTokens);
  if (completion > 0) server.metrics.timePerToken.observe((performance.now() - started) / 1000 / completion);
  sendJson(res, 200, {
    ...head,
    choices: [{ text: result.text, index: 0, logprobs: null, finish_reason: result.finishReason }],
    usage: usage(result.promptTokens, completion),
  });
}

/** Writes one server-sent event; waits while the socket's buffer is full (a slow reader slows only itself). */
async function send(res: ServerResponse, data: string): Promise<void> {
  if (res.destroyed || res.writableEnded) return;
  if (res.write(`data: ${data}\n\n`)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function chunk(head: Head, text: string, finishReason: 'stop' | 'length' | null): string {
  return JSON.stringify({ ...head, choices: [{ text, index: 0, logprobs: null, finish_reason: finishReason }] });
}

async function streamed(
  { res, server, signal, started }: RequestContext,
  prompt: string,
  options: GenerateOptions,
  head: Head,
  includeUsage: boolean,
): Promise<void> {
  const metrics = server.metrics;
  const release = server.enter();
  let iterator: AsyncIterator<StreamChunk, GenerateResult | undefined | void> | null = null;
  try {
    iterator = server.model.stream(prompt, options)[Symbol.asyncIterator]();
    // The first token (or the refusal: a full queue, a prompt too long) comes before the status line, so a
    // refused request still gets its 4xx.
    let next: IteratorResult<StreamChunk, GenerateResult | undefined | void>;
    try {
      next = await iterator.next();
    } catch (error) {
      const answer = failure(error, signal, server.retryAfter);
      if (answer !== null) throw answer;
      return;
    }
    if (signal.aborted && abortAnswer(signal) === null) return;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
    let count = 0;
    let last = performance.now();
    if (!next.done) metrics.timeToFirstToken.observe((last - started) / 1000);
    try {
      while (!next.done) {
        count++;
        metrics.tokens.inc();
        await send(res, chunk(head, next.value.text, null));
        if (res.destroyed) return;
        next = await iterator.next();
        const now = performance.now();
        if (!next.done) metrics.timePerToken.observe((now - last) / 1000);
        last = now;
      }
    } catch (error) {
      if (res.destroyed) return;
      const answer = failure(error, signal, server.retryAfter);
      if (answer !== null) await send(res, JSON.stringify(answer.body()));
      res.end();
      return;
    }
    // A stream ended by the shutdown's abort did not finish: its client gets the error, not a finish reason.
    const answer = signal.aborted ? abortAnswer(signal) : null;
    if (answer !== null) await send(res, JSON.stringify(answer.body()));
    else {
      // The model's result tells why it finished; a model that does not say it is read from the count.
      const result = next.value ?? null;
      const finishReason =
        result?.finishReason ?? (count >= (options.maxTokens ?? DEFAULT_MAX_TOKENS) ? 'length' : 'stop');
      await send(res, chunk(head, '', finishReason));
      if (result !== null) metrics.promptTokens.inc(result.promptTokens);
      if (includeUsage)
        await send(
          res,
          JSON.stringify({ ...head, choices: [], usage: result === null ? null : usage(result.promptTokens, count) }),
        );
      await send(res, '[DONE]');
    }
    res.end();
  } finally {
    release();
    // A stream left early (the client went away) is closed, which cancels its sequence in the worker.
    void iterator?.return?.()?.catch(() => undefined);
  }
}
