// The README's first demo (`npm run demo`) runs as documented: it trains in seconds and continues the prompt
// with "mat".
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

test('npm run demo: "The cat sat on the" continues with "mat"', () => {
  const root = path.join(__dirname, '..', '..');
  const result = spawnSync(process.execPath, [path.join(root, 'examples', 'demo', 'demo.js')], { cwd: root, encoding: 'utf8', timeout: 60000 });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/"The cat sat on the" -> "The cat sat on the mat/);
}, 70000);
