// The small GET routes: /health (the model and the load), /v1/models (OpenAI's list, one model) and
// /metrics (Prometheus text).
import { RequestContext, sendJson } from './http';

export async function health({ res, server, info }: RequestContext): Promise<void> {
  let load;
  try {
    load = await server.load();
  } catch (error) {
    // The model's thread is gone (it exited or was closed): the server cannot answer completions.
    sendJson(res, 503, {
      status: 'error',
      task: info.task,
      error: { message: (error as Error)?.message ?? String(error), type: 'service_unavailable' },
    });
    return;
  }
  sendJson(res, 200, {
    status: 'ok',
    task: info.task,
    model: { name: server.modelName, ...info.model },
    checkpoint: info.checkpoint,
    threads: info.threads,
    maxBatch: info.maxBatch,
    maxQueue: info.maxQueue,
    ...load,
  });
}

export async function models({ res, server, info }: RequestContext): Promise<void> {
  sendJson(res, 200, {
    object: 'list',
    data: [
      {
        id: server.modelName,
        object: 'model',
        created: server.createdAt,
        owned_by: 'transformer-native',
        task: info.task,
      },
    ],
  });
}

export async function metricsText({ res, server }: RequestContext): Promise<void> {
  const { contentType, body } = await server.metrics.text();
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}
