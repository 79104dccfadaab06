'use strict';
// Output: the Markdown table and the results JSON (written atomically).
const fs = require('node:fs');
const path = require('node:path');
const { capsText } = require('./peer');

function fixed(x) {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** A short label for the table; the JSON keeps the peer's full name. */
function shortPeer(name) {
  const setting = /\((.*)\)$/.exec(name);
  const library = name.includes('OpenBLAS')
    ? 'OpenBLAS'
    : name.includes('BLIS')
      ? 'BLIS'
      : name.startsWith('torch')
        ? 'torch'
        : name.split(' ')[0];
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

/** What the peer libraries ran: per library its name, the caps it was given and whether they took effect. */
function peerLines(results) {
  const lines = [];
  for (const [library, peer] of Object.entries(results.peers ?? {})) {
    const cap = peer.cap === null ? 'uncapped' : capsText(peer.cap);
    let status = '';
    if (peer.error) status = `: unavailable (${peer.error})`;
    else if (peer.capped === false) status = `: NOT capped (${peer.capNote ?? `runs ${peer.isa}`})`;
    else if (peer.capped === true) status = ': took effect';
    const what = peer.error ? library : `${peer.name}${peer.isa ? ` [${peer.isa}]` : ''}`;
    lines.push(`- ${what}: ${cap}${status}`);
  }
  return lines;
}

/** The ISA line of the header: our path, and whether the peers were capped to it. */
function isaLine(results) {
  if (results.isaOption === null)
    return `ISA: ours ${results.isa} (no --isa: our widest path unless TN_ISA chose another); peers at their own defaults`;
  return `ISA: ours ${results.isa} (--isa ${results.isaOption}); peers capped to the same instruction set where their library takes a cap`;
}

/** The peer cells of a compared row: the peer the ratio used, and in brackets any other peer of the row. */
function peerCells(row, note) {
  if (!row.peer) return [note ?? 'peer unavailable', '', ''];
  const others = (row.peers ?? [])
    .filter((p) => p.library !== row.peer.library)
    .map((p) =>
      p.value === undefined ? `${p.library} ${p.note.replace('peer ', '')}` : `${shortPeer(p.name)} ${fixed(p.value)}`,
    );
  const flag = row.peer.capped === false ? ' NOT capped' : '';
  const name = `${shortPeer(row.peer.name)}${flag}${others.length > 0 ? ` (${others.join(', ')})` : ''}`;
  return [name, fixed(row.peer.value), `${row.peer.ratio.toFixed(2)}x`];
}

/** The results as Markdown: a header (date, CPU, ISA paths, peers, limits) and one table row per result row.
 * `peerNotes` maps row index to a note shown instead of peer figures (e.g. 'peer unavailable'). */
function markdown(results, { compare, peerNotes }) {
  const lines = [`Date: ${results.date}  `, `CPU: ${results.cpu}  `, isaLine(results), ''];
  if (compare) {
    const peers = peerLines(results);
    if (peers.length > 0) lines.push('Peers (library [path it reported]: caps):', ...peers, '');
    if (results.rows.some((row) => row.peers))
      lines.push('GEMM rows: ours/peer against the faster of OpenBLAS and BLIS; the other in brackets.', '');
  }
  lines.push('Limits (measured at start):', ...limitsLines(results), '');
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
    if (compare) cells.push(...peerCells(row, peerNotes.get(i)));
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
