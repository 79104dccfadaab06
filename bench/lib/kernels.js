'use strict';
// The typed kernel calls of src/ops/<family>.ts, compiled to dist/: the bench calls kernels only through them.
const path = require('node:path');

/** The compiled module of one kernel family, e.g. family('gemm').gemmKernel. */
function family(name) {
  return require(path.join(__dirname, '..', '..', 'dist', 'ops', name));
}

module.exports = { family };
