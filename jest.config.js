/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 120000,
  // The second reporter prints how many GPU tests ran and fails a TN_REQUIRE_GPU=1 run in which none did.
  reporters: ['default', '<rootDir>/test/gpu/reporter.js'],
};
