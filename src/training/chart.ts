// A small SVG line-chart writer for loss curves: axes with round-number ticks, one polyline per series, legend.
export interface ChartSeries {
  name: string;
  /** [x, y] points; non-finite y values are skipped. */
  points: ReadonlyArray<readonly [number, number]>;
  color: string;
  width?: number;
  opacity?: number;
  dashed?: boolean;
  /** Draw a dot at every point (for sparse series such as eval losses). */
  markers?: boolean;
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` evenly spaced round values (1, 2 or 5 times a power of ten apart) covering [low, high]. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (!Number.isFinite(low) || !Number.isFinite(high)) return [];
  if (high < low) [low, high] = [high, low];
  // A range below what the values can resolve (one loss record and its smoothed twin differ in the last bit) would
  // step by less than one ulp and never reach `high`: pad it like a single value.
  if (high - low <= Math.max(Math.abs(low), Math.abs(high)) * 1e-9) {
    const pad = Math.abs(low) > 0 ? Math.abs(low) * 0.1 : 1;
    low -= pad;
    high += pad;
  }
  const rough = (high - low) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) as number;
  const ticks: number[] = [];
  for (let v = Math.floor(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < high) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e5 || abs < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

/** Exponential moving average with bias correction (TensorBoard's smoothing): weight 0 returns the input. */
export function smoothSeries(values: readonly number[], weight = 0.8): number[] {
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothSeries: weight must be in [0, 1), got ${weight}`);
  const out: number[] = [];
  let average = 0;
  let n = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(v);
      continue;
    }
    n++;
    average = average * weight + (1 - weight) * v;
    out.push(average / (1 - weight ** n));
  }
  return out;
}

/** Renders the series as a standalone SVG document. */
export function lineChartSVG(series: readonly ChartSeries[], options: ChartOptions = {}): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const margin = { left: 70, right: 20, top: options.title ? 40 : 20, bottom: 55 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xs = finite.map(([x]) => x);
  const ys = finite.map(([, y]) => y);
  const xTicks = finite.length > 0 ? niceTicks(Math.min(...xs), Math.max(...xs), 6) : [0, 1];
  const yTicks = finite.length > 0 ? niceTicks(Math.min(...ys), Math.max(...ys), 5) : [0, 1];
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const py = (y: number) => margin.top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
  const f = (v: number) => v.toFixed(1);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (options.title)
    parts.push(
      `<text x="${f(width / 2)}" y="24" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
    );
  // Grid and ticks.
  for (const t of yTicks) {
    const y = f(py(t));
    parts.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${margin.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`,
    );
  }
  for (const t of xTicks) {
    const x = f(px(t));
    parts.push(`<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotH}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x}" y="${margin.top + plotH + 18}" text-anchor="middle">${formatTick(t)}</text>`);
  }
  // Axes.
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${margin.top + plotH}" stroke="black"/>`,
  );
  parts.push(
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotH}" stroke="black"/>`,
  );
  if (options.xLabel)
    parts.push(
      `<text x="${f(margin.left + plotW / 2)}" y="${height - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    );
  if (options.yLabel)
    parts.push(
      `<text transform="translate(16 ${f(margin.top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
    );
  // Series.
  for (const s of series) {
    const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (points.length === 0) continue;
    const style = `fill="none" stroke="${escapeXml(s.color)}" stroke-width="${s.width ?? 2}" stroke-opacity="${s.opacity ?? 1}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}`;
    parts.push(
      `<polyline class="series" data-name="${escapeXml(s.name)}" ${style} points="${points.map(([x, y]) => `${f(px(x))},${f(py(y))}`).join(' ')}"/>`,
    );
    if (s.markers)
      for (const [x, y] of points)
        parts.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3" fill="${escapeXml(s.color)}"/>`);
  }
  // Legend, top right inside the plot.
  const shown = series.filter((s) => s.points.length > 0);
  const legendW = 20 + Math.max(0, ...shown.map((s) => s.name.length)) * 7 + 30;
  const lx = margin.left + plotW - legendW - 8;
  let ly = margin.top + 8;
  if (shown.length > 0)
    parts.push(
      `<rect x="${f(lx)}" y="${ly}" width="${legendW}" height="${shown.length * 18 + 8}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`,
    );
  for (const s of shown) {
    ly += 18;
    parts.push(
      `<line x1="${f(lx + 8)}" y1="${ly - 4}" x2="${f(lx + 30)}" y2="${ly - 4}" stroke="${escapeXml(s.color)}" stroke-width="${s.width ?? 2}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    parts.push(`<text class="legend" x="${f(lx + 36)}" y="${ly}">${escapeXml(s.name)}</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** The loss chart of a run: raw and smoothed train loss by step, and eval loss when there is one. */
export function lossChartSVG(
  train: ReadonlyArray<readonly [number, number]>,
  evalLoss: ReadonlyArray<readonly [number, number]> = [],
  options: ChartOptions & { smoothing?: number } = {},
): string {
  const smoothed = smoothSeries(
    train.map(([, y]) => y),
    options.smoothing ?? 0.8,
  );
  const series: ChartSeries[] = [
    { name: 'train loss', points: train, color: '#1f77b4', width: 1, opacity: 0.3 },
    { name: 'train loss (smoothed)', points: train.map(([x], i) => [x, smoothed[i]] as const), color: '#1f77b4' },
  ];
  if (evalLoss.length > 0)
    series.push({ name: 'eval loss', points: evalLoss, color: '#d62728', dashed: true, markers: true });
  return lineChartSVG(series, {
    title: options.title ?? 'Loss',
    xLabel: options.xLabel ?? 'step',
    yLabel: options.yLabel ?? 'loss',
    ...options,
  });
}
