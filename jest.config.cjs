// Jest runs tests/js (both builds, real servers on loopback) and tests/e2e (real Chromium).
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests/js', '<rootDir>/tests/e2e'],
  testMatch: ['**/*.test.js'],
  // The package's own entry points, as a user's require('chatwire') resolves them.
  moduleNameMapper: {
    '^chatwire$': '<rootDir>/dist/node.cjs',
    '^chatwire/wasm$': '<rootDir>/dist/wasm.cjs',
  },
  testTimeout: 30000,
  // Native state is shared by all test files of one worker; two workers match the machine.
  maxWorkers: 2,
};
