'use strict';
// Output: the Markdown table and the results JSON (written atomically).
const fs = require('node:fs');
const path = require('node:path');

function fixed(x) {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** A short label for the table; the JSON keeps the peer's full name. */
function shortPeer(name) {
  const setting = /\((.*)\)$/.exec(name);
  const library = name.includes('OpenBLAS') ? 'OpenBLAS' : name.startsWith('torch') ? 'torch' : name.split(' ')[0];
  if (!setting) return library;
  const threads = /(\d+) threads?/.exec(setting[1]);
  return `${library} ${threads ? `${threads[1]}t` : ''}${setting[1].includes('PASSIVE') ? ' passive' : ''}`.trim();
}

function limitsLines(results) {
  const lines = [];
  for (const t of Object.keys(results.limits.fmaGflops)) {
    lines.push(
      `- ${t} thread${t === '1' ? '' : 's'}: FMA peak ${fixed(results.limits.fmaGflops[t])} GFLOP/s, ` +
        `triad bandwidth ${fixed(results.limits.bandwidthGBs[t])} GB/s`,
    );
  }
  return lines;
}

/** The results as Markdown: a header (date, CPU, limits) and one table row per result row. `peerNotes` maps
 * row index to a note shown instead of peer figures (e.g. 'peer unavailable'). */
function markdown(results, { compare, peerNotes }) {
  const lines = [
    `Date: ${results.date}  `,
    `CPU: ${results.cpu}`,
    '',
    'Limits (measured at start):',
    ...limitsLines(results),
    '',
  ];
  const header = ['row', 'shape', 'threads', 'median ms', 'min-max ms', 'value', 'unit', '% of limit'];
  if (compare) header.push('peer', 'peer value', 'ours/peer');
  lines.push(`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`);
  results.rows.forEach((row, i) => {
    const cells = [
      row.name,
      row.shape,
      String(row.threads),
      fixed(row.medianMs),
      `${fixed(row.minMs)}-${fixed(row.maxMs)}`,
      fixed(row.value),
      row.unit,
      row.ofLimit === undefined ? '' : `${(row.ofLimit * 100).toFixed(0)}%`,
    ];
    if (compare) {
      if (row.peer) cells.push(shortPeer(row.peer.name), fixed(row.peer.value), `${row.peer.ratio.toFixed(2)}x`);
      else cells.push(peerNotes.get(i) ?? 'peer unavailable', '', '');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  });
  return lines.join('\n');
}

/** Writes text to file through a temporary file in the same directory, fsynced, then renamed over it. */
function writeFileAtomic(file, text) {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(temp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

module.exports = { markdown, writeFileAtomic, shortPeer };
