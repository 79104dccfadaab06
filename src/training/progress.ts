// What the Trainer shows while it runs: a progress bar (on a terminal, or when asked for), plain lines
// otherwise, or nothing. Eval results are lines of their own, printed above the bar when there is one.
import { SingleBar } from 'cli-progress';
import type { Metrics, ProgressMode, TrainRecord } from './trainer';

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatMetrics(metrics: Metrics): string {
  return Object.entries(metrics)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(' | ');
}

/** The bar's fields: '-' where a value is not known yet. */
function barPayload(epoch: number, loss: number | null, lr: number, tps: number | null) {
  return {
    epoch,
    loss: loss === null ? '-' : loss.toFixed(4),
    lr: lr.toExponential(2),
    tps: tps === null ? '-' : Math.round(tps),
  };
}

export class ProgressDisplay {
  private readonly bar: SingleBar | null;

  /** `totalSteps` is the step the run ends at: the bar's total, and the N of 'step n/N' lines. */
  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly mode: ProgressMode,
    private readonly totalSteps: number,
  ) {
    const useBar = mode === 'bar' || (mode === 'auto' && (stream as { isTTY?: boolean }).isTTY === true);
    this.bar = useBar
      ? new SingleBar({
          stream,
          format:
            'step {value}/{total} [{bar}] {percentage}% | epoch {epoch} | loss {loss} | lr {lr} | {tps} tok/s | ETA {eta_formatted}',
          hideCursor: true,
          noTTYOutput: mode === 'bar',
          etaBuffer: 50,
          fps: 5,
        })
      : null;
  }

  /** Draws the bar at the step the run starts from (a resumed run does not start at 0). */
  start(step: number, epoch: number, lr: number): void {
    this.bar?.start(this.totalSteps, step, barPayload(epoch, null, lr, null));
  }

  /** Shows a train record: moves the bar, or prints a step line with the elapsed time and an ETA from the
   * seconds per step of the record's window. */
  train(r: TrainRecord, secondsPerStep: number): void {
    if (this.bar !== null) {
      this.bar.update(r.step, barPayload(r.epoch, r.loss, r.lr, r.tokensPerSecond));
      return;
    }
    const eta = secondsPerStep * Math.max(0, this.totalSteps - r.step);
    this.line(
      `step ${r.step}/${this.totalSteps} | epoch ${r.epoch} | loss ${r.loss.toFixed(4)} | lr ${r.lr.toExponential(2)} | ` +
        `${r.tokensPerSecond === null ? '-' : Math.round(r.tokensPerSecond)} tok/s | elapsed ${formatDuration(r.elapsed)} | ETA ${formatDuration(eta)}`,
    );
  }

  /** Prints the metrics of an evaluation. */
  eval(step: number, metrics: Metrics): void {
    this.line(`eval @ step ${step}: ${formatMetrics(metrics)}`);
  }

  stop(): void {
    this.bar?.stop();
  }

  /** A line of its own; with a bar, it clears the bar's line first (the bar redraws below it). */
  private line(text: string): void {
    if (this.mode === 'none') return;
    this.stream.write(this.bar !== null ? `\r\x1b[K${text}\n` : `${text}\n`);
  }
}
