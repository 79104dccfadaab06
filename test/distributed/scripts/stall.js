'use strict';
// Run under `mpirun -np 2` with TN_DIST_TIMEOUT set: rank 1 never joins the second all-reduce (it sleeps), so rank 0
// must give up after the timeout and end the job with a message.
const path = require('node:path');
const tn = require(path.join(__dirname, '..', '..', '..', 'dist'));
const { rank } = tn.dist.init();
tn.dist.allReduce(tn.tensor([1]));
if (rank === 1) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
tn.dist.allReduce(tn.tensor([1]));
console.log('not reached');
