// The runtime README's recipes for webpack 5, Rollup 4 and a page with an import map (no bundler),
// followed as a user would: the packed runtime and model package plus onnxruntime-web installed
// offline into a fresh folder outside the repository, the page built with each recipe's config,
// served on 127.0.0.1 with COOP/COEP, and scored in headless Chromium against the Node runtime.
// The bundlers are the repository's pinned devDependencies, driven through their APIs with the
// README's configs (the app folder installs no build tool, as test/packages.test.ts does for Vite).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nodeResolve } from '@rollup/plugin-node-resolve';
// @ts-expect-error the plugin ships dist/index.d.ts, but its package.json "exports" does not point at it (TS7016)
import { importMetaAssets } from '@web/rollup-plugin-import-meta-assets';
import { chromium, type BrowserContext } from 'playwright-core';
import { rollup } from 'rollup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webpack, { type Configuration, type Stats } from 'webpack';
import { createDetector } from '../../src/runtime/node.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../helpers/chromium.js';
import { listOutput, REPO, userEnv } from '../helpers/packages.js';
import { serveFolder, type StaticServer } from '../helpers/static-server.js';

const run = promisify(execFile);

const REQUIRED = process.env.GANOMALY_REQUIRE_BROWSER === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const HAVE_BUILD = existsSync(join(REPO, 'packages', 'runtime', 'dist', 'web.js'));
if (!HAVE_CHROMIUM && !REQUIRED) {
  console.warn(`bundler recipe tests SKIPPED: ${CHROMIUM} not found (install chromium, or set GANOMALY_REQUIRE_BROWSER=1 to fail instead)`);
}

const FIXTURES = join(REPO, 'test', 'fixtures', 'bundlers');
const MODEL_DIR = join(REPO, 'models', 'fashion-mnist-trouser');
const SAMPLE = join(MODEL_DIR, 'samples', 'abnormal-trouser-21.png');
// Two WASM threads: ORT's default on a 2-core machine is one, and then no page would start the
// pthread worker, whose script URL is what each bundler handles differently.
const QUERY = '?providers=wasm&threads=2';
const ASYNCIFY = /ort-wasm-simd-threaded\.asyncify[^/]*\.wasm$/;
const PLAIN_WASM = /ort-wasm-simd-threaded(?!\.)[^/]*\.wasm$/;

interface LockEntry {
  version: string;
  dependencies?: Record<string, string>;
  [field: string]: unknown;
}

/**
 * A fresh app with onnxruntime-web and the packed tarballs, installed with no network. `npm install
 * --offline onnxruntime-web` needs the registry's package documents in the npm cache, and a machine
 * that only ran `npm ci` has the tarballs but not those documents (ENOTCACHED). So onnxruntime-web
 * and its dependencies are installed by `npm ci --offline` from a lockfile cut out of the
 * repository's own (the versions and integrity hashes the repository's `npm ci` cached), then the
 * tarballs by `npm install --offline`, as a user adds packages to an app.
 */
async function installOffline(app: string, tarballs: string[]): Promise<void> {
  const lock = (JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  // Node's lookup through the lockfile's paths: nested node_modules first, then each folder up.
  const find = (from: string, name: string): string => {
    for (let base = from; ; base = base.slice(0, Math.max(0, base.lastIndexOf('/node_modules/')))) {
      const key = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (lock[key]) return key;
      if (!base) throw new Error(`${name} (needed by ${from || 'the app'}) is not in the repository's package-lock.json`);
    }
  };
  const packages: Record<string, LockEntry> = {};
  const queue: [string, string][] = [['', 'onnxruntime-web']];
  for (let next = queue.pop(); next; next = queue.pop()) {
    const key = find(...next);
    if (packages[key]) continue;
    // The repository's dev/optional flags describe its own tree, not the app's.
    const { dev: _dev, devOptional: _devOptional, optional: _optional, peer: _peer, ...entry } = lock[key]!;
    packages[key] = entry;
    for (const dep of Object.keys(entry.dependencies ?? {})) queue.push([key, dep]);
  }
  const root = { name: 'bundler-app', private: true, type: 'module', dependencies: { 'onnxruntime-web': packages['node_modules/onnxruntime-web']!.version } };
  await mkdir(app, { recursive: true });
  await writeFile(join(app, 'package.json'), `${JSON.stringify(root, null, 2)}\n`);
  await writeFile(join(app, 'package-lock.json'), `${JSON.stringify({ name: root.name, lockfileVersion: 3, requires: true, packages: { '': root, ...packages } }, null, 2)}\n`);
  const npm = (args: string[]) => run('npm', [...args, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: app, env: userEnv(), maxBuffer: 64 << 20, timeout: 300_000,
  }).catch((e: { stderr?: string; message: string }) => {
    throw new Error(`npm ${args[0]} --offline in the app folder failed (run \`npm ci\` in the repository first: it caches what this needs): ${e.stderr ?? e.message}`);
  });
  await npm(['ci']);
  await npm(['install', ...tarballs]);
}

interface PageResult {
  score?: number;
  provider?: string;
  isolated?: boolean;
  error?: { name?: string; code?: string; message: string };
}

/** The page's HTML for a bundle: webpack emits a classic script, Rollup an ES module. */
function html(script: string): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8" /></head><body><pre id="out">loading…</pre>${script}</body></html>\n`;
}

/** The README's webpack 5 recipe; `wasmOnly` adds its alias for pages that never ask for WebGPU. */
function webpackConfig(app: string, outDir: string, wasmOnly: boolean): Configuration {
  return {
    mode: 'production',
    context: app,
    entry: './main.js',
    output: { path: join(app, outDir), clean: true },
    ...(wasmOnly ? { resolve: { alias: { 'onnxruntime-web/webgpu': false } } } : {}),
    // The emitted model and .wasm files are over webpack's 244 KiB hint by nature.
    performance: { hints: false },
  };
}

async function buildWebpack(app: string, outDir: string, wasmOnly: boolean): Promise<string> {
  const stats = await new Promise<Stats>((resolve, reject) => {
    webpack(webpackConfig(app, outDir, wasmOnly), (err, s) => (err || !s ? reject(err ?? new Error('webpack gave no stats')) : resolve(s)));
  });
  if (stats.hasErrors()) throw new Error(stats.toString({ all: false, errors: true }));
  await writeFile(join(app, outDir, 'index.html'), html('<script src="./main.js"></script>'));
  await cp(join(app, 'sample.png'), join(app, outDir, 'sample.png'));
  return join(app, outDir);
}

/** The README's Rollup 4 recipe; without the assets plugin, what the README warns against. */
async function buildRollup(app: string, outDir: string, withAssets: boolean): Promise<string> {
  const bundle = await rollup({
    input: join(app, 'main.js'),
    plugins: [nodeResolve({ browser: true }), ...(withAssets ? [importMetaAssets()] : [])],
    logLevel: 'silent',
  });
  await bundle.write({ dir: join(app, outDir), format: 'es' });
  await bundle.close();
  await writeFile(join(app, outDir, 'index.html'), html('<script type="module" src="./main.js"></script>'));
  await cp(join(app, 'sample.png'), join(app, outDir, 'sample.png'));
  return join(app, outDir);
}

function sizes(files: { path: string; bytes: number }[], test: (p: string) => boolean): string {
  return files.filter((f) => test(f.path)).map((f) => `${f.path} ${(f.bytes / 1024).toFixed(1)} KiB`).join(', ');
}

describe.skipIf((!HAVE_CHROMIUM && !REQUIRED) || (!HAVE_BUILD && !process.env.CI))('runtime README recipes: webpack 5, Rollup 4, import map (headless Chromium)', () => {
  let work: string;
  let app: string;
  let profile: string;
  let context: BrowserContext;
  let nodeScore: number;
  const builds: Record<string, string> = {};

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`GANOMALY_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
    if (!HAVE_BUILD) throw new Error('packages/runtime/dist is not built: run `npm run build` (npm test does it first)');
    work = await mkdtemp(join(tmpdir(), 'ganomaly-bundlers-'));
    app = join(work, 'app');
    const packed = join(work, 'packed');
    await mkdir(packed, { recursive: true });
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', packed, '-w', 'packages/runtime', '-w', 'models/fashion-mnist-trouser'], {
      cwd: REPO, env: userEnv(), maxBuffer: 64 << 20,
    });
    const tarballs = (JSON.parse(stdout) as { filename: string }[]).map((p) => join(packed, p.filename));
    await installOffline(app, tarballs);
    await cp(FIXTURES, app, { recursive: true });
    await cp(SAMPLE, join(app, 'sample.png'));

    const d = await createDetector({ model: MODEL_DIR, executionProviders: ['cpu'], logger: null });
    nodeScore = (await d.score(SAMPLE)).score;
    await d.dispose();

    // One at a time: two cores, and each bundler alone keeps one busy.
    builds.webpack = await buildWebpack(app, 'dist-webpack', false);
    builds.webpackWasmOnly = await buildWebpack(app, 'dist-webpack-wasm', true);
    builds.rollup = await buildRollup(app, 'dist-rollup', true);
    builds.rollupNoAssets = await buildRollup(app, 'dist-rollup-no-assets', false);
    profile = await mkdtemp(join(tmpdir(), 'ganomaly-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS] });
  }, 600_000);

  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Loads `path` from a fresh COOP/COEP server on `root`; resolves to the page's result and what it fetched. */
  async function open(root: string, path: string): Promise<{ r: PageResult; fetched: StaticServer['fetched']; errors: string[] }> {
    const server = await serveFolder(root, { isolated: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${server.url}${path}`);
      await page.waitForFunction(() => (window as { fixtureResult?: unknown }).fixtureResult, null, { timeout: 90_000 });
      const r = await page.evaluate(() => (window as unknown as { fixtureResult: PageResult }).fixtureResult);
      return { r, fetched: [...server.fetched], errors };
    } finally {
      await page.close();
      await server.close();
    }
  }

  function expectNodeScore(r: PageResult): void {
    expect(r.error, r.error?.message).toBeUndefined();
    expect(r.provider).toBe('wasm');
    expect(r.isolated).toBe(true);
    expect(Math.abs(r.score! - nodeScore)).toBeLessThanOrEqual(1e-4);
  }

  it('webpack 5, no config: scores as Node does; the threads worker loads the emitted copy of ORT\'s module', async () => {
    const files = await listOutput(builds.webpack!);
    console.log(`webpack (no config) emits: JS ${sizes(files, (p) => /\.m?js$/.test(p))}; wasm ${sizes(files, (p) => p.endsWith('.wasm'))}`);
    // Both ORT builds are emitted, each with its .wasm: webpack cannot know the page asks only for WASM.
    expect(files.filter((f) => f.path.endsWith('.wasm'))).toHaveLength(2);
    expect(files.filter((f) => f.path.endsWith('.mjs'))).toHaveLength(2);
    const { r, fetched, errors } = await open(builds.webpack!, QUERY);
    expectNodeScore(r);
    expect(errors).toEqual([]);
    // The .mjs webpack emits next to its chunk is the pthread worker's script, fetched by the workers.
    expect(fetched.filter((f) => f.path.endsWith('.mjs'))).toHaveLength(1);
    const wasm = fetched.filter((f) => f.path.endsWith('.wasm'));
    expect(wasm).toHaveLength(1);
    expect(wasm[0]!.bytes).toBe(files.find((f) => f.path === wasm[0]!.path.slice(1))!.bytes);
    expect(wasm[0]!.bytes).toBeLessThan(20e6); // the 14 MB plain build, not the 26.8 MB asyncify one
  });

  it('webpack 5, the README\'s WASM-only alias: no WebGPU build or asyncify wasm emitted; same score; asking for WebGPU names the alias', async () => {
    const files = await listOutput(builds.webpackWasmOnly!);
    console.log(`webpack (WASM-only alias) emits: JS ${sizes(files, (p) => /\.m?js$/.test(p))}; wasm ${sizes(files, (p) => p.endsWith('.wasm'))}`);
    expect(files.filter((f) => f.path.endsWith('.wasm'))).toHaveLength(1);
    const full = await listOutput(builds.webpack!);
    const bytes = (xs: { bytes: number }[]) => xs.reduce((s, f) => s + f.bytes, 0);
    // What the alias removes is the WebGPU build: its chunk, its worker copy and the asyncify wasm.
    expect(bytes(full) - bytes(files)).toBeGreaterThan(26e6);
    const { r } = await open(builds.webpackWasmOnly!, QUERY);
    expectNodeScore(r);
    const webgpu = await open(builds.webpackWasmOnly!, '?providers=webgpu,wasm');
    expect(webgpu.r.error).toMatchObject({ name: 'UnresolvedModuleError', code: 'module_unresolved' });
    expect(webgpu.r.error!.message).toMatch(/^'onnxruntime-web\/webgpu' resolved to a module without ONNX Runtime's InferenceSession/);
    expect(webgpu.fetched.filter((f) => f.path.endsWith('.wasm'))).toEqual([]);
  });

  it('Rollup 4 + node-resolve + import-meta-assets: scores as Node does, from files the plugin emitted', async () => {
    const files = await listOutput(builds.rollup!);
    console.log(`rollup emits: JS ${sizes(files, (p) => /\.m?js$/.test(p))}; wasm ${sizes(files, (p) => p.endsWith('.wasm'))}`);
    expect(files.filter((f) => f.path.endsWith('.wasm'))).toHaveLength(2);
    expect(files.some((f) => /^assets\/manifest-[\w-]+\.json$/.test(f.path))).toBe(true);
    const { r, fetched, errors } = await open(builds.rollup!, QUERY);
    expectNodeScore(r);
    expect(errors).toEqual([]);
    const wasm = fetched.filter((f) => f.path.endsWith('.wasm'));
    expect(wasm).toHaveLength(1);
    expect(wasm[0]!.path).toMatch(PLAIN_WASM);
    expect(fetched.filter((f) => f.path.endsWith('.onnx')).map((f) => f.path)).toEqual([expect.stringMatching(/^\/assets\/detector-[\w-]+\.onnx$/)]);
  });

  it('Rollup 4 without import-meta-assets: the model files are not emitted and the page 404s on manifest.json (why the README adds the plugin)', async () => {
    const files = await listOutput(builds.rollupNoAssets!);
    expect(files.filter((f) => /\.(wasm|onnx)$|manifest/.test(f.path))).toEqual([]);
    const { r } = await open(builds.rollupNoAssets!, QUERY);
    expect(r.error).toMatchObject({ name: 'ModelNotFoundError', code: 'model_not_found' });
    expect(r.error!.message).toMatch(/manifest\.json: HTTP 404/);
  });

  it('import map, no bundler: scores as Node does, every file served from the app\'s own node_modules', async () => {
    const { r, fetched, errors } = await open(app, `import-map.html${QUERY}`);
    expectNodeScore(r);
    expect(errors).toEqual([]);
    const paths = fetched.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining([
      '/node_modules/@ganomaly-edge/runtime/dist/web.js',
      '/node_modules/onnxruntime-web/dist/ort.wasm.bundle.min.mjs',
      '/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm',
      '/node_modules/@ganomaly-edge/model-fashion-mnist-trouser/detector.onnx',
    ]));
    expect(paths.filter((p) => ASYNCIFY.test(p) || p.includes('webgpu'))).toEqual([]);
    const js = fetched.filter((f) => /\.m?js$/.test(f.path));
    console.log(`import map page fetches: JS ${js.map((f) => `${f.path} ${(f.bytes / 1024).toFixed(1)} KiB`).join(', ')}; wasm ${fetched.filter((f) => f.path.endsWith('.wasm')).map((f) => `${f.path} ${(f.bytes / 2 ** 20).toFixed(1)} MiB`).join(', ')}`);
  });

  it('import map without "onnxruntime-web/wasm": UnresolvedModuleError naming the specifier to map, not "not installed"', async () => {
    const { r } = await open(app, `import-map-without-ort.html${QUERY}`);
    expect(r.error).toMatchObject({ name: 'UnresolvedModuleError', code: 'module_unresolved' });
    expect(r.error!.message).toMatch(/^'onnxruntime-web\/wasm' could not be resolved \(TypeError: Failed to resolve module specifier/);
    expect(r.error!.message).toContain('add "onnxruntime-web/wasm" to the import map');
    expect(r.error!.message).toContain('dist/ort.wasm.bundle.min.mjs');
    expect(r.error!.message).not.toMatch(/not installed/);
  });
});
