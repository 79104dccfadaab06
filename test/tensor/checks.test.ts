// The shared checks of src/checks.ts (the messages name the op, the argument and the bad value) and the
// shared edit distance.
import { assertKnownKeys, assertPositiveInt, assertSeed, fmtShape } from '../../src/checks';
import { editDistance } from '../../src/util/edit_distance';
import { expectError } from '../helpers';

test('fmtShape writes shapes as [a, b, c]', () => {
  expect(fmtShape([])).toBe('[]');
  expect(fmtShape([7])).toBe('[7]');
  expect(fmtShape([2, 3, 4])).toBe('[2, 3, 4]');
});

test('assertPositiveInt accepts integers >= 1, or >= 0 with allowZero', () => {
  for (const v of [1, 2, 1e6]) expect(() => assertPositiveInt('op', 'n', v)).not.toThrow();
  for (const v of [0, 1, 5]) expect(() => assertPositiveInt('op', 'n', v, { allowZero: true })).not.toThrow();
  expectError(
    () => assertPositiveInt('Linear', 'inFeatures', 0),
    'RangeError',
    /^Linear: inFeatures must be a positive integer, got 0$/,
  );
  expectError(() => assertPositiveInt('op', 'n', 1.5), 'RangeError', /op: n must be a positive integer, got 1.5/);
  expectError(() => assertPositiveInt('op', 'n', NaN), 'RangeError', /got NaN/);
  expectError(() => assertPositiveInt('op', 'n', Infinity), 'RangeError', /got Infinity/);
  expectError(() => assertPositiveInt('op', 'n', '3'), 'RangeError', /op: n must be a positive integer, got 3/);
  expectError(() => assertPositiveInt('op', 'n', undefined), 'RangeError', /got undefined/);
  expectError(
    () => assertPositiveInt('op', 'offset', -1, { allowZero: true }),
    'RangeError',
    /^op: offset must be a non-negative integer, got -1$/,
  );
  expectError(() => assertPositiveInt('op', 'n', Symbol('s')), 'RangeError', /got Symbol\(s\)/);
});

test('assertKnownKeys names every unknown key and the known ones', () => {
  expect(() => assertKnownKeys('SGD', { lr: 1, momentum: 0 }, ['lr', 'momentum'])).not.toThrow();
  expect(() => assertKnownKeys('SGD', {}, ['lr'])).not.toThrow();
  expectError(
    () => assertKnownKeys('SGD', { lr: 1, weight_decay: 0 }, ['lr', 'weightDecay']),
    'TypeError',
    /^SGD: unknown option 'weight_decay' \(known: lr, weightDecay\)$/,
  );
  expectError(
    () => assertKnownKeys('GPT', { a: 1, b: 2 }, ['c'], { what: 'config key', errorType: RangeError }),
    'RangeError',
    /^GPT: unknown config keys 'a', 'b' \(known: c\)$/,
  );
});

test('editDistance counts insertions, deletions and substitutions in strings and token arrays', () => {
  expect(editDistance('', '')).toBe(0);
  expect(editDistance('kitten', 'sitting')).toBe(3);
  expect(editDistance('trian', 'train')).toBe(2);
  expect(editDistance('abc', '')).toBe(3);
  expect(editDistance(['K', 'AE1', 'T'], ['K', 'AH0', 'T'])).toBe(1);
  expect(editDistance([1, 2, 3, 4], [2, 3])).toBe(2);
  expect(editDistance('flaw', 'lawn')).toBe(editDistance('lawn', 'flaw'));
  expectError(
    () => editDistance(null as unknown as string, 'a'),
    'TypeError',
    /editDistance: both arguments must be strings or arrays/,
  );
});

test('assertSeed accepts integers in [0, 2^53)', () => {
  for (const v of [0, 1, 2 ** 53 - 1]) expect(() => assertSeed('op', v)).not.toThrow();
  for (const v of [-1, 0.5, 2 ** 53, NaN, '1'])
    expectError(
      () => assertSeed('Linear', v),
      'RangeError',
      new RegExp(`^Linear: seed must be an integer in \\[0, 2\\^53\\), got ${String(v).replace('.', '\\.')}$`),
    );
});
