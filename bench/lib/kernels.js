'use strict';
// The typed kernel calls of src/ops/<family>.ts, compiled to dist/: the bench calls kernels only through them.
const path = require('node:path');

const OPS = path.join(__dirname, '..', '..', 'dist', 'ops');

/** The compiled module of one kernel family, e.g. family('gemm').gemmKernel. */
function family(name) {
  return require(path.join(OPS, name));
}

/** Shape helpers of src/ops/util.ts (e.g. contiguousStrides), so that the bench keeps no copies of them. */
function opsUtil() {
  return require(path.join(OPS, 'util'));
}

module.exports = { family, opsUtil };
