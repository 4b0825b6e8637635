#!/usr/bin/env node
// The bin (written to dist/index.cjs by build.mjs, with the bundle's hash filled in). Compiling
// the bundle is a large part of every start, so it is compiled from a cache when one exists:
// - Node 22.1+: Node's own compile cache, which must be on before the bundle loads.
// - Older Nodes: a V8 code cache in dist/.cache, beside the code it was made from. Whoever can
//   write there can already change the bundle itself, so the cache adds no way in; nothing is
//   read from or written to a shared directory. Its name carries the bundle's hash (taken at
//   build time: hashing at start would load node:crypto, 3 ms), the bundle's size and mtime (so
//   an edited bundle never runs stale code), Node's version and the CPU architecture; V8 itself
//   refuses data made with other flags.
// NODE_DISABLE_COMPILE_CACHE=1 turns both off.
"use strict";
const Module = require("node:module");
const { join } = require("node:path");

const bundle = join(__dirname, "main.cjs");
const BUNDLE_HASH = "__BUNDLE_HASH__";

if (Module.enableCompileCache || process.env.NODE_DISABLE_COMPILE_CACHE) {
  try {
    Module.enableCompileCache?.();
  } catch {}
  require(bundle);
} else {
  loadWithCodeCache();
}

function loadWithCodeCache() {
  const fs = require("node:fs");
  const vm = require("node:vm");
  const source = fs.readFileSync(bundle, "utf8");
  const { size, mtimeMs } = fs.statSync(bundle);
  const key = `${BUNDLE_HASH}-${size}-${Math.trunc(mtimeMs)}-${process.version}-${process.arch}`;
  const cacheFile = join(__dirname, ".cache", `main-${key}.v8`);
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {}
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  const module = new Module(bundle, null);
  module.filename = bundle;
  module.paths = Module._nodeModulePaths(__dirname);
  const run = script.runInThisContext();
  run.call(module.exports, module.exports, Module.createRequire(bundle), module, bundle, __dirname);
  if (cachedData && !script.cachedDataRejected) return;
  // Made a second after start, the cache also holds the functions that answering
  // initialize and tools/list compiled.
  setTimeout(() => {
    const partial = `${cacheFile}.${process.pid}`;
    try {
      fs.mkdirSync(join(__dirname, ".cache"), { recursive: true });
      fs.writeFileSync(partial, script.createCachedData());
      fs.renameSync(partial, cacheFile);
    } catch {
      // A read-only install (a global one owned by root, say) simply starts without a cache.
      fs.rmSync(partial, { force: true });
    }
  }, 1000).unref();
}
