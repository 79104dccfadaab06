// The examples' corpus packages install into a folder each: installing one example's corpus leaves another's in
// place (a plain `npm install --no-save` in one folder pruned it), a found corpus is not installed again, and a
// failed install exits with status 2 and a message instead of a stack trace.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const corpusModule = path.resolve(__dirname, '../../examples/corpus.js');
let root: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'tn-corpus-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A packed local package `name` whose index.js exports `value`; returns the tarball's path. */
function pack(name: string, value: string): string {
  const dir = path.join(root, 'src', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js' }));
  fs.writeFileSync(path.join(dir, 'index.js'), `module.exports = ${JSON.stringify(value)};\n`);
  const packed = spawnSync('npm', ['pack', '--silent', '--pack-destination', root], { cwd: dir, encoding: 'utf8' });
  expect(packed.status).toBe(0);
  return path.join(root, packed.stdout.trim());
}

/** Runs requireCorpusPath(name, { spec }) in a fresh process with the corpora under root/corpora. */
function requireCorpus(name: string, spec: string) {
  const script =
    `const { requireCorpusPath } = require(${JSON.stringify(corpusModule)});` +
    `console.log(require(requireCorpusPath(${JSON.stringify(name)}, { spec: ${JSON.stringify(spec)} })));`;
  return spawnSync(process.execPath, ['-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CORPORA_DIR: path.join(root, 'corpora'), NODE_PATH: '' },
  });
}

test("installing one example's corpus leaves the other's in place", () => {
  const first = pack('tn-test-corpus-first', 'first corpus');
  const second = pack('@tn-test/corpus-second', 'second corpus');
  const installFirst = requireCorpus('tn-test-corpus-first', first);
  expect(installFirst.status).toBe(0);
  expect(installFirst.stdout).toBe('first corpus\n');
  expect(installFirst.stderr).toMatch(/installing .* into .*corpora[/\\]tn-test-corpus-first/);
  const installSecond = requireCorpus('@tn-test/corpus-second', second);
  expect(installSecond.status).toBe(0);
  expect(installSecond.stdout).toBe('second corpus\n');
  expect(installSecond.stderr).toMatch(/corpora[/\\]tn-test\+corpus-second/);
  // Both are still there: found again without installing anything.
  for (const [name, spec, value] of [
    ['tn-test-corpus-first', first, 'first corpus'],
    ['@tn-test/corpus-second', second, 'second corpus'],
  ]) {
    const again = requireCorpus(name, spec);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(`${value}\n`);
    expect(again.stderr).toBe('');
  }
});

test('a failed install exits with status 2 and says what failed', () => {
  const failed = requireCorpus('tn-test-corpus-missing', path.join(root, 'no-such-package.tgz'));
  expect(failed.status).toBe(2);
  expect(failed.stderr).toMatch(/this example needs tn-test-corpus-missing, and `npm install --prefix .*` failed/);
});
