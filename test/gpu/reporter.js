'use strict';
// Counts the GPU tests of a jest run (those inside describeGpu blocks, whose names start with GPU_TAG in
// test/gpu/twins.ts) and prints one line about them. Under TN_REQUIRE_GPU=1 a run in which no GPU test ran
// fails, whatever else passed: a GPU run cannot succeed by skipping everything.
const GPU_TAG = '[gpu]';

/** { ran, passed, failed } over jest's aggregated results: tests under a GPU_TAG describe that ran. */
function countGpuTests(results) {
  let passed = 0;
  let failed = 0;
  for (const file of results.testResults)
    for (const t of file.testResults) {
      if (!t.ancestorTitles.some((title) => title.startsWith(GPU_TAG))) continue;
      if (t.status === 'passed') passed++;
      else if (t.status === 'failed') failed++;
    }
  return { ran: passed + failed, passed, failed };
}

/** The summary line, and the error that fails the run (or null). */
function gpuSummary(results, env) {
  const { ran, passed, failed } = countGpuTests(results);
  const strict = env.TN_REQUIRE_GPU === '1';
  const line = `GPU tests: ${ran} ran (${passed} passed, ${failed} failed)${strict ? ', TN_REQUIRE_GPU=1' : ''}`;
  const error = strict && ran === 0 ? new Error(`${line}: no GPU test ran, so this GPU run fails`) : null;
  return { line, error };
}

class GpuTestReporter {
  constructor() {
    this.error = undefined;
  }

  onRunComplete(_contexts, results) {
    const touchedGpuTests = results.testResults.some((file) => /[\\/]test[\\/]gpu[\\/]/.test(file.testFilePath));
    const { line, error } = gpuSummary(results, process.env);
    if (error) {
      this.error = error;
      process.stderr.write(`\n${error.message}\n`);
    } else if (touchedGpuTests || process.env.TN_REQUIRE_GPU === '1') process.stderr.write(`\n${line}\n`);
  }

  getLastError() {
    return this.error;
  }
}

module.exports = GpuTestReporter;
module.exports.gpuSummary = gpuSummary;
module.exports.GPU_TAG = GPU_TAG;
