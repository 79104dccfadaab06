'use strict';
// The Node side of the peer protocol of peer.py, shared by the Node peers: one JSON request per line on stdin
// ({ op, ...args }), one JSON reply per line on stdout ({ ok: true, ...result } or { ok: false, error }).
const readline = require('node:readline');

/** Answers requests with ops[op](message) until stdin ends. */
async function serve(ops) {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    let reply;
    try {
      const message = JSON.parse(line);
      const op = ops[message.op];
      if (op === undefined) throw new Error(`unknown op '${message.op}'`);
      reply = { ok: true, ...(await op(message)) };
    } catch (error) {
      reply = { ok: false, error: `${error.name}: ${error.message}` };
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  }
}

/** The `time` op's answer: milliseconds per call of run() (awaited), over iters calls. */
async function timeCalls(run, iters) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) await run();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6 / iters };
}

module.exports = { serve, timeCalls };
