// Preloaded with `node --require` by tests: the packages named in HIDE_PACKAGES (comma-separated) resolve as if
// they were not installed (Node's own "Cannot find module" error, code MODULE_NOT_FOUND), so a test can run the
// program without an optional dependency that is installed here.
const Module = require('node:module');

const hidden = new Set((process.env.HIDE_PACKAGES || '').split(',').filter((name) => name !== ''));
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, isMain, options) {
  // No lookup paths: the resolver searches nowhere and throws the error it throws for a missing package.
  if (hidden.has(request)) return resolveFilename.call(this, request, parent, isMain, { paths: [] });
  return resolveFilename.call(this, request, parent, isMain, options);
};
