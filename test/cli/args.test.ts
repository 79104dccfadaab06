// The CLI argument parser: flag forms, typed values, precedence of defaults < config < flags, help rendering.
import { formatOptions, OptionSpec, parseArgs, resolveOptions, suggestion, UserError } from '../../src/cli/args';

const SPECS: OptionSpec[] = [
  { name: 'out', type: 'string', description: 'output', required: true, placeholder: 'DIR' },
  { name: 'max-steps', type: 'integer', min: 1, default: 100, description: 'steps' },
  { name: 'lr', type: 'number', min: 0, exclusiveMin: true, default: 0.001, description: 'learning rate' },
  { name: 'mode', type: 'string', choices: ['a', 'b'], default: 'a', description: 'mode' },
  { name: 'shuffle', type: 'boolean', default: true, description: 'shuffle' },
];

function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('expected a UserError');
}

test('flag forms and typed values', () => {
  const parsed = parseArgs(
    ['--out', 'dir', '--max-steps=5', '--lr', '1e-2', '--no-shuffle', 'word', '--', '--not-a-flag'],
    SPECS,
    'train',
  );
  expect(parsed.values).toEqual({ out: 'dir', maxSteps: 5, lr: 0.01, shuffle: false });
  expect(parsed.positionals).toEqual(['word', '--not-a-flag']);
  expect([...parsed.explicit].sort()).toEqual(['lr', 'maxSteps', 'out', 'shuffle']);
  expect(parsed.help).toBe(false);
  expect(parseArgs(['--shuffle=false', '-h'], SPECS, 'train')).toMatchObject({
    values: { shuffle: false },
    help: true,
  });
  expect(parseArgs(['--shuffle'], SPECS, 'train').values).toEqual({ shuffle: true });
});

test('bad flags and values are usage errors (exit code 2) naming the flag', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--max-step', '3'], /unknown option '--max-step' for 'train' \(did you mean --max-steps\?\)/],
    [['-x'], /unknown option '-x'/],
    [['--out'], /option '--out' needs a value/],
    [['--out', '--lr'], /option '--out' needs a value/],
    [['--max-steps', '2.5'], /invalid value "2.5" for --max-steps: expected an integer$/],
    [['--max-steps', '0'], /expected an integer >= 1/],
    [['--lr', '0'], /invalid value "0" for --lr: expected a number > 0/],
    [['--lr', 'fast'], /expected a number$/],
    [['--mode', 'c'], /expected one of a, b/],
    [['--shuffle=maybe'], /expected true or false/],
  ];
  for (const [argv, message] of cases) {
    const error = userError(() => parseArgs(argv, SPECS, 'train'));
    expect(error.message).toMatch(message);
    expect(error.exitCode).toBe(2);
  }
});

test('defaults < config file < command line; required options and unknown config keys', () => {
  const parsed = parseArgs(['--lr', '0.5'], SPECS, 'train');
  const config = { out: 'from-config', lr: 0.1, maxSteps: 7, shuffle: false };
  expect(resolveOptions(SPECS, parsed, config, 'c.json')).toEqual({
    out: 'from-config',
    maxSteps: 7,
    lr: 0.5,
    mode: 'a',
    shuffle: false,
  });
  expect(userError(() => resolveOptions(SPECS, parsed, null)).message).toBe('missing required option --out');
  expect(userError(() => resolveOptions(SPECS, parsed, { out: 'x', maxStep: 3 }, 'c.json')).message).toBe(
    "unknown key 'maxStep' in c.json (did you mean maxSteps?)",
  );
  expect(userError(() => resolveOptions(SPECS, parsed, { out: 'x', maxSteps: '3' }, 'c.json')).message).toMatch(
    /invalid value "3" for 'maxSteps' in c.json: expected an integer/,
  );
});

test('suggestions only for close names; help lists every option with defaults', () => {
  expect(suggestion('trian', ['train', 'eval'])).toBe(' (did you mean train?)');
  expect(suggestion('zzzzzz', ['train', 'eval'])).toBe('');
  const help = formatOptions(SPECS);
  expect(help).toMatch(/--out DIR\s+output \(required\)/);
  expect(help).toMatch(/--max-steps N\s+steps \(default: 100\)/);
  expect(help).toMatch(/--mode a\|b\s+mode \(default: a\)/);
  expect(help).toMatch(/--shuffle\s+shuffle \(default: true\)/);
  expect(help).toMatch(/-h, --help\s+show this help/);
});

test('arguments that start with a dash: negative values and positionals; repeated flags; short options', () => {
  const specs: OptionSpec[] = [...SPECS, { name: 'shift', type: 'number', description: 'offset' }];
  // A flag's value may be negative; a negative number standing alone is a positional, '-1e-3' included.
  const parsed = parseArgs(
    ['--shift', '-1e-3', '-5', '-1e-3', '--out', 'dir', '-', '--shift=-2', '--max-steps', '3', '--max-steps', '4'],
    specs,
    'train',
  );
  expect(parsed.values).toEqual({ shift: -2, out: 'dir', maxSteps: 4 });
  expect(parsed.positionals).toEqual(['-5', '-1e-3', '-']);
  expect(parseArgs(['--out', '-x'], specs, 'train').values).toEqual({ out: '-x' });
  const cases: Array<[string[], string]> = [
    [['--lr', '-1'], 'invalid value "-1" for --lr: expected a number > 0'],
    [['-hx'], "unknown option '-hx' for 'train'"],
    [['--help=yes'], "option '--help' takes no value"],
    [['--no-out'], "unknown option '--no-out' for 'train'"],
    [['--no-shuffle=true'], "unknown option '--no-shuffle' for 'train' (did you mean --shuffle?)"],
    [['--max-steps', '--'], 'invalid value "--" for --max-steps: expected an integer'],
  ];
  for (const [argv, message] of cases) expect(userError(() => parseArgs(argv, specs, 'train')).message).toBe(message);
});
