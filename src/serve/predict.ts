// POST /v1/predict for g2p and classify checkpoints: `{ inputs: [...] }` -> `{ outputs: [...] }`, one output
// per input in order (g2p: the phoneme string; classify: `{ label, probabilities }`).
import { fromModelError, HttpError } from './errors';
import { RequestContext, sendJson } from './http';
import { array, ObjectSchema, string, validate } from './schema';

export const MAX_INPUTS = 256;

export const PREDICT_SCHEMA: ObjectSchema = {
  fields: {
    inputs: array(string({ minLength: 1, maxLength: 10_000 }), { minItems: 1, maxItems: MAX_INPUTS }),
    model: string(),
  },
  required: ['inputs'],
};

export async function predict({ res, server, info, body, signal }: RequestContext): Promise<void> {
  if (info.task === 'lm')
    throw new HttpError(
      404,
      'POST /v1/predict serves g2p and classify models; this server runs a language model (use POST /v1/completions)',
      'not_found_error',
    );
  const request = await body();
  const problems = validate(request, PREDICT_SCHEMA);
  if (problems.length > 0)
    throw new HttpError(400, problems.map((p) => p.message).join('; '), 'invalid_request_error', problems[0].param);
  const { inputs } = request as { inputs: string[] };
  let outputs;
  try {
    outputs = await server.call(() => server.model.predict(inputs));
  } catch (error) {
    throw fromModelError(error, server.retryAfter);
  }
  // The client that went away gets nothing; the others get their outputs.
  if (!signal.aborted) sendJson(res, 200, { outputs });
}
