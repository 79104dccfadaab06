'use strict';
// Command-line options of `npm run bench`.

const USAGE = `usage: npm run bench -- [options]
  --quick            short run (under 2 minutes): fewer, shorter repeats; end-to-end rows only when --filter
                     selects them
  --filter <name>    only rows whose name contains <name> or matches it as a case-insensitive regex
  --threads <list>   comma-separated thread counts, e.g. 1,2 (default 1,2)
  --json <path>      where to write the results (default bench/results.json)
  --compare          time the same work in numpy (on OpenBLAS and on BLIS) and PyTorch, interleaved with ours;
                     GEMM rows compare against the faster of OpenBLAS and BLIS; inference rows run our models
                     exported to ONNX in onnxruntime-node (intra-op threads = --threads)
  --isa <path>       generic, avx2 or avx512: run our kernels on that path and cap the peers to the same
                     instruction set (OPENBLAS_CORETYPE, BLIS_ARCH_TYPE, ATEN_CPU_CAPABILITY); default: our
                     widest path on this CPU, peers at their own defaults
  --help             print this text`;

/** The instruction-set paths --isa accepts, narrowest first. */
const ISAS = ['generic', 'avx2', 'avx512'];

/** Parses argv (without node and the script) into { quick, filter, threads, json, compare, isa, help }; isa is
 * null when --isa is not given. */
function parseArgs(argv, defaultJson) {
  const options = {
    quick: false,
    filter: null,
    threads: [1, 2],
    json: defaultJson,
    compare: false,
    isa: null,
    help: false,
  };
  const valueOf = (i, flag) => {
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new TypeError(`bench: ${flag} needs a value`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--quick':
        options.quick = true;
        break;
      case '--compare':
        options.compare = true;
        break;
      case '--help':
      case '-h':
        options.help = true;
        break;
      case '--filter':
        options.filter = valueOf(i++, arg);
        break;
      case '--json':
        options.json = valueOf(i++, arg);
        break;
      case '--threads':
        options.threads = parseThreads(valueOf(i++, arg));
        break;
      case '--isa':
        options.isa = parseIsa(valueOf(i++, arg));
        break;
      default:
        throw new TypeError(`bench: unknown option '${arg}'\n${USAGE}`);
    }
  }
  return options;
}

function parseThreads(text) {
  const parts = text.split(',').map((s) => s.trim());
  const threads = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p)) || threads.some((t) => t < 1 || t > 1024))
    throw new RangeError(`bench: --threads expects comma-separated integers in [1, 1024], got '${text}'`);
  return [...new Set(threads)].sort((a, b) => a - b);
}

function parseIsa(text) {
  if (!ISAS.includes(text)) throw new RangeError(`bench: --isa expects ${ISAS.join(', ')}, got '${text}'`);
  return text;
}

/** A predicate on row names: substring match, or a case-insensitive regex when the text is one. */
function nameFilter(filter) {
  if (filter === null) return () => true;
  let regex = null;
  try {
    regex = new RegExp(filter, 'i');
  } catch {
    // not a regex: plain substring only
  }
  const lower = filter.toLowerCase();
  return (name) => name.toLowerCase().includes(lower) || (regex !== null && regex.test(name));
}

module.exports = { USAGE, ISAS, parseArgs, nameFilter };
