#!/usr/bin/env node
// Builds the optional oneDNN convolution addon (native/) with node-gyp, offline.
//   node scripts/build-native.mjs             build; exit 1 with the reason on failure
//   node scripts/build-native.mjs --optional  for npm's install hook: always exit 0, one line
//                                             saying what happened (training then uses wasm)
// Needs g++, make, python3 (node-gyp), Node's headers and oneDNN's (Debian: libdnnl-dev).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const optional = process.argv.includes('--optional');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const addon = path.join(nativeDir, 'build', 'Release', 'ganomaly_dnnl.node');

function done(ok, line) {
  console.log(`build-native: ${line}`);
  process.exit(ok || optional ? 0 : 1);
}

if (process.env.GANOMALY_SKIP_NATIVE === '1') done(true, 'skipped (GANOMALY_SKIP_NATIVE=1); training uses the wasm kernels');

const includeDirs = ['/usr/include', '/usr/local/include', process.env.DNNL_ROOT && path.join(process.env.DNNL_ROOT, 'include')]
  .filter(Boolean);
if (!includeDirs.some((d) => existsSync(path.join(d, 'oneapi', 'dnnl', 'dnnl.hpp')))) {
  done(false, 'oneDNN headers not found (apt-get install libdnnl-dev); training uses the wasm kernels');
}

/** node-gyp: npm's own (npm sets npm_config_node_gyp for scripts), else the one bundled with npm. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const npmDir = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  for (const base of [npmDir, root]) {
    try {
      return createRequire(path.join(base, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
    } catch {
      // try the next place
    }
  }
  return null;
}
const gyp = nodeGyp();
if (gyp === null) done(false, 'node-gyp not found (it ships with npm); training uses the wasm kernels');

// Headers of the running Node when they are installed next to it (Debian's nodejs, official
// tarballs): node-gyp would otherwise try to download them.
const prefix = path.resolve(path.dirname(process.execPath), '..');
const args = [gyp, 'rebuild'];
if (existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
if (process.env.DNNL_ROOT) {
  process.env.CXXFLAGS = `${process.env.CXXFLAGS ?? ''} -I${path.join(process.env.DNNL_ROOT, 'include')}`;
  const lib = path.join(process.env.DNNL_ROOT, 'lib');
  process.env.LDFLAGS = `${process.env.LDFLAGS ?? ''} -L${lib} -Wl,-rpath,${lib}`;
}
const r = spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8' });
if (r.status !== 0 || !existsSync(addon)) {
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const err = log.split('\n').find((l) => /error|ERR!/.test(l) && !/gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
  done(false, `node-gyp failed (${(err ?? r.error?.message ?? `exit ${r.status}`).trim().slice(0, 200)}); training uses the wasm kernels`);
}
// Load it once here so a library mismatch shows now, not at the first training run.
try {
  const a = createRequire(import.meta.url)(addon);
  done(true, `built ${path.relative(root, addon)} (oneDNN ${a.version()}); training on wasm uses oneDNN convolutions`);
} catch (e) {
  done(false, `built, but it does not load: ${String(e.message ?? e).split('\n')[0]}; training uses the wasm kernels`);
}
