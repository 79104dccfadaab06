// The server's Prometheus metrics (prom-client), in a registry of its own so that several servers in one
// process (tests) do not share counters. The process metrics (resident memory, CPU, event-loop lag...) are
// collected into the same registry under the same prefix.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const METRICS_PREFIX = 'transformer_native_';

/** What the server reads at each scrape: requests accepted by the model and not finished, and how many
 * sequences the current decoding step runs. */
export interface LoadSample {
  queueDepth: number;
  batchSize: number;
}

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly tokens: Counter;
  readonly promptTokens: Counter;
  readonly queueDepth: Gauge;
  readonly batchSize: Gauge;
  readonly timeToFirstToken: Histogram;
  readonly timePerToken: Histogram;
  readonly requestDuration: Histogram<'route'>;

  constructor(sample: () => Promise<LoadSample>) {
    const registers = [this.registry];
    const p = METRICS_PREFIX;
    this.requests = new Counter({
      name: `${p}http_requests_total`,
      help: 'HTTP requests answered, by route, method and status code (499: the client closed the connection first)',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.tokens = new Counter({ name: `${p}generated_tokens_total`, help: 'Tokens generated', registers });
    this.promptTokens = new Counter({
      name: `${p}prompt_tokens_total`,
      help: 'Prompt tokens of the completions answered',
      registers,
    });
    this.queueDepth = new Gauge({
      name: `${p}queue_depth`,
      help: 'Requests accepted by the model and not finished (running or waiting)',
      registers,
      async collect() {
        this.set((await sample()).queueDepth);
      },
    });
    this.batchSize = new Gauge({
      name: `${p}batch_size`,
      help: 'Sequences decoded together in the current decoding step',
      registers,
      async collect() {
        this.set((await sample()).batchSize);
      },
    });
    this.timeToFirstToken = new Histogram({
      name: `${p}time_to_first_token_seconds`,
      help: 'Time from a streamed completion request to its first generated token',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.timePerToken = new Histogram({
      name: `${p}time_per_output_token_seconds`,
      help: 'Time between consecutive tokens of a completion (streamed: each gap; whole answers: their mean)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.requestDuration = new Histogram({
      name: `${p}http_request_duration_seconds`,
      help: 'Time from a request to the end of its response, by route',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: p });
  }

  /** The text of a scrape. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
