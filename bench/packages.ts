// What each kind of user installs and downloads, measured from the packed packages:
//   - npm pack sizes of the toolkit, the runtime, the browser, gateway and model packages;
//   - fresh installs (npm cache first, no env var, no .npmrc of ours): web app, onnxruntime-web
//     alone, gateway (runtime + ORT-node + sharp), gateway-package (@ganomaly-edge/gateway),
//     learning web app, toolkit — node_modules bytes, package count, wall time;
//   - the fixture page built with Vite and esbuild: bytes a page loads (JS minified, gzip as a
//     compressing server sends them), and the time to the first score in headless Chromium
//     (median of --runs page loads), per ORT build and per model precision.
// Prints a table and writes bench/results/packages.json.
//
//   npm run build && npm run bench:packages [-- --runs 3]
import { cp, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import {
  addPackages,
  buildWithEsbuild,
  buildWithVite,
  footprint,
  freshInstall,
  gatewayOverride,
  MiB,
  packAll,
  REPO,
  type Footprint,
} from '../test/helpers/packages.js';
import { serveFolder } from '../test/helpers/static-server.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../test/helpers/chromium.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, out: { type: 'string', default: 'bench/results/packages.json' } } });
const RUNS = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const work = await mkdtemp(join(tmpdir(), 'ganomaly-bench-packages-'));
try {
  const packed = await packAll(join(work, 'packed'));
  const installs: Record<string, { deps: string[]; seconds: number; footprint: Footprint; note: string }> = {};
  const install = async (name: string, deps: string[], labels: string[], npmrc: string[] = [], note = '', overrides: Record<string, string> = {}) => {
    const r = await freshInstall(join(work, name), deps, npmrc, overrides);
    installs[name] = { deps: labels, seconds: r.ms / 1000, footprint: await footprint(r.dir), note };
    return r.dir;
  };
  // One at a time, so the wall times compare.
  await install('onnxruntime-web-alone', ['onnxruntime-web@1.30.0'], ['onnxruntime-web']);
  const webDir = await install('web-app', [packed.runtime.tarball, 'onnxruntime-web@1.30.0'], ['@ganomaly-edge/runtime', 'onnxruntime-web']);
  await install('gateway', [packed.runtime.tarball, packed.model.tarball, 'onnxruntime-node@1.30.0', 'sharp@0.35.5'],
    ['@ganomaly-edge/runtime', '@ganomaly-edge/model-fashion-mnist-trouser', 'onnxruntime-node', 'sharp'], ['onnxruntime-node-install=skip'], '.npmrc: onnxruntime-node-install=skip');
  await install('gateway-package', [packed.runtime.tarball, packed.gateway.tarball, packed.model.tarball],
    ['@ganomaly-edge/gateway', '@ganomaly-edge/model-fashion-mnist-trouser'], ['onnxruntime-node-install=skip'], 'ganomaly-gateway serve/watch; .npmrc: onnxruntime-node-install=skip');
  await install('learning-web-app', [packed.runtime.tarball, packed.browser.tarball, 'onnxruntime-web@1.30.0'],
    ['@ganomaly-edge/browser', '@ganomaly-edge/runtime', 'onnxruntime-web'], [], 'trains and exports in the page, scores with the runtime');
  await install('toolkit', [packed.runtime.tarball, packed.browser.tarball, packed.toolkit.tarball], ['ganomaly-edge'], [], 'no env var, no .npmrc', gatewayOverride(packed));
  const toolkitHasOrtNode = installs.toolkit!.footprint.packages.includes('onnxruntime-node');
  installs.toolkit!.note += toolkitHasOrtNode ? '; onnxruntime-node installed' : '; onnxruntime-node and @ganomaly-edge/gateway dropped (optional; CUDA download failed)';

  // The page: Vite and esbuild, each ORT build.
  await addPackages(webDir, [packed.model.tarball]);
  await cp(join(REPO, 'test', 'fixtures', 'packages', 'web-app'), webDir, { recursive: true });
  await mkdir(join(webDir, 'public'), { recursive: true });
  await cp(join(webDir, 'node_modules', '@ganomaly-edge', 'model-fashion-mnist-trouser', 'samples', 'abnormal-trouser-21.png'), join(webDir, 'public', 'sample.png'));
  const outputs = { vite: await buildWithVite(webDir), esbuild: await buildWithEsbuild(webDir) };
  const profile = await mkdtemp(join(tmpdir(), 'ganomaly-chromium-'));
  const pages: Record<string, unknown>[] = [];
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS] });
  try {
    const combos: { bundler: 'vite' | 'esbuild'; providers: string; precision: string; isolated: boolean }[] = [];
    for (const bundler of ['vite', 'esbuild'] as const) {
      for (const providers of ['wasm', 'webgpu,wasm']) {
        for (const precision of ['fp32', 'fp16', 'int8']) {
          for (const isolated of [true, false]) combos.push({ bundler, providers, precision, isolated });
        }
      }
    }
    for (const { bundler, providers, precision, isolated } of combos) {
      const server = await serveFolder(outputs[bundler], { isolated });
      const loads: { firstScoreMs: number; navToScoreMs: number }[] = [];
      let fetched = server.fetched.slice();
      for (let i = 0; i < RUNS; i++) {
        server.reset();
        const page = await context.newPage();
        const t0 = performance.now();
        await page.goto(`${server.url}?providers=${providers}&precision=${precision}`);
        await page.waitForFunction(() => (window as { fixtureResult?: unknown }).fixtureResult, null, { timeout: 120_000 });
        const r = await page.evaluate(() => (window as unknown as { fixtureResult: { ms: number; error?: string } }).fixtureResult);
        if (r.error) throw new Error(`${bundler} ${providers} ${precision}: ${r.error}`);
        loads.push({ firstScoreMs: r.ms, navToScoreMs: performance.now() - t0 });
        fetched = server.fetched.slice();
        await page.close();
      }
      await server.close();
      const sum = (re: RegExp, k: 'bytes' | 'gzipBytes') => fetched.filter((f) => re.test(f.path)).reduce((s, f) => s + f[k], 0);
      pages.push({
        bundler, providers, precision, isolated, runs: RUNS,
        jsBytes: sum(/\.m?js$/, 'bytes'), jsGzipBytes: sum(/\.m?js$/, 'gzipBytes'),
        wasmBytes: sum(/\.wasm$/, 'bytes'), wasmGzipBytes: sum(/\.wasm$/, 'gzipBytes'),
        modelBytes: sum(/\.onnx$|manifest/, 'bytes'), modelGzipBytes: sum(/\.onnx$|manifest/, 'gzipBytes'),
        totalBytes: sum(/./, 'bytes'), totalGzipBytes: sum(/./, 'gzipBytes'),
        files: fetched.map((f) => f.path),
        medianCreateToScoreMs: median(loads.map((l) => l.firstScoreMs)),
        medianNavigationToScoreMs: median(loads.map((l) => l.navToScoreMs)),
      });
    }
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }

  const web = installs['web-app']!.footprint;
  const alone = installs['onnxruntime-web-alone']!.footprint;
  const result = {
    date: new Date().toISOString(),
    machine: '2 cores, Node 20, npm cache warm (npm install --prefer-offline)',
    packed: Object.fromEntries(Object.entries(packed).map(([k, p]) => [k, { name: p.name, tgzBytes: p.size, unpackedBytes: p.unpackedSize, files: p.files.length, installScripts: Object.keys(p.scripts).filter((s) => /install$/.test(s)) }])),
    installs: Object.fromEntries(Object.entries(installs).map(([k, v]) => [k, {
      deps: v.deps, note: v.note, seconds: Number(v.seconds.toFixed(1)), nodeModulesBytes: v.footprint.bytes, packages: v.footprint.packages.length,
      tensorflow: v.footprint.packages.filter((p) => p.startsWith('@tensorflow/')).length,
      has: Object.fromEntries(['onnxruntime-node', 'onnxruntime-web', 'sharp', 'webgpu', '@ganomaly-edge/gateway'].map((p) => [p, v.footprint.packages.includes(p)])),
    }])),
    webAppVsOrtWebAlone: Number((web.bytes / alone.bytes).toFixed(4)),
    pages,
  };
  await writeFile(join(REPO, values.out!), `${JSON.stringify(result, null, 2)}\n`);

  console.log('\npackages (npm pack)');
  console.log('| package | .tgz | unpacked | files | install scripts |\n|---|---:|---:|---:|---|');
  for (const p of Object.values(result.packed)) console.log(`| ${p.name} | ${(p.tgzBytes / 1024).toFixed(1)} KiB | ${(p.unpackedBytes / 1024).toFixed(1)} KiB | ${p.files} | ${p.installScripts.join(', ') || 'none'} |`);
  console.log('\nfresh installs');
  console.log('| install | node_modules | packages | @tensorflow/* | ORT-node | ORT-web | sharp | webgpu | time | note |\n|---|---:|---:|---:|---|---|---|---|---:|---|');
  for (const [k, v] of Object.entries(result.installs)) {
    const yn = (b: boolean | undefined) => (b ? 'yes' : 'no');
    console.log(`| ${k} | ${(v.nodeModulesBytes / MiB).toFixed(1)} MiB | ${v.packages} | ${v.tensorflow} | ${yn(v.has['onnxruntime-node'])} | ${yn(v.has['onnxruntime-web'])} | ${yn(v.has.sharp)} | ${yn(v.has.webgpu)} | ${v.seconds} s | ${v.note} |`);
  }
  console.log(`web app / onnxruntime-web alone: ×${result.webAppVsOrtWebAlone}`);
  console.log(`\npage (fixture app, model package, one PNG scored; headless Chromium, median of ${RUNS})`);
  console.log('| bundler | providers | precision | COOP/COEP | JS | JS gzip | wasm (gzip) | model (gzip) | all (gzip) | nav → first score |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const p of pages as { bundler: string; providers: string; precision: string; isolated: boolean; jsBytes: number; jsGzipBytes: number; wasmBytes: number; wasmGzipBytes: number; modelBytes: number; modelGzipBytes: number; totalBytes: number; totalGzipBytes: number; medianNavigationToScoreMs: number }[]) {
    const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
    const mb = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
    console.log(`| ${p.bundler} | ${p.providers} | ${p.precision} | ${p.isolated ? 'yes' : 'no'} | ${kb(p.jsBytes)} | ${kb(p.jsGzipBytes)} | ${mb(p.wasmBytes)} (${mb(p.wasmGzipBytes)}) | ${mb(p.modelBytes)} (${mb(p.modelGzipBytes)}) | ${mb(p.totalBytes)} (${mb(p.totalGzipBytes)}) | ${(p.medianNavigationToScoreMs / 1000).toFixed(2)} s |`);
  }
  console.log(`\nwrote ${values.out}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
