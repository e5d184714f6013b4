// Training, exporting and scoring inside a page (ganomaly-edge/browser) against the same code in
// Node: same frames, same seed, same backend kind (tfjs WASM) → the same losses step by step; the
// page's exported folder loads in Node's runtime and scores like the page; the graphs pass the
// official checker; and the browser bundle holds no Node built-ins. In-page threads: a cross-origin
// isolated page trains on tfjs's threaded build with every core, to the same losses as one thread;
// a page without COOP/COEP reports 1 thread and why. On WebGPU the page runs the fused WGSL kernels
// to the losses of the WASM step.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import * as ortWeb from 'onnxruntime-web';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportInBrowser, trainInBrowser, packCheckpoint, unpackCheckpoint, zipFiles, crc32 } from '../../src/browser/index.js';
import { createDetector } from '../../src/runtime/node.js';
import type { RawImage } from '../../src/runtime/core/pixels.js';
import { testImage } from '../helpers/make-model.js';
import { buildTrainPage } from '../helpers/browser-train-page.js';
import { serveFolder, type StaticServer } from '../helpers/static-server.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../helpers/chromium.js';

const REQUIRED = process.env.GANOMALY_REQUIRE_BROWSER === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const PYTHON = '/usr/bin/python3';
const hasOnnxChecker = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;
const FORBIDDEN = /onnxruntime-node|(^|\/)sharp(\/|$)|^node:|src\/(train\/(trainer|checkpoint)|backend\/(select|native)|data\/(dataset|folder|idx|decode|spec))|src\/export\/(ortNode|hash|exportRun|variants)\.ts/;

// A tiny configuration: the test is about equality, not about a good model.
const CONFIG = { model: { isize: 16, nc: 1 as const, nz: 8, ngf: 8, ndf: 8, scoreKind: 'l2' as const }, epochs: 2, batchSize: 4, seed: 5, validationFraction: 0.25 };
const FRAMES: RawImage[] = Array.from({ length: 20 }, (_, i) => testImage(24, 20, i % 3 === 0 ? 3 : 1, 500 + i));
const asJson = (f: RawImage) => ({ data: Array.from(f.data), width: f.width, height: f.height, channels: f.channels });

/** The losses Node reaches with the same function, frames and seed on tfjs WASM: what the page must reproduce. */
async function nodeWasmSteps(): Promise<Record<string, number>[]> {
  const steps: Record<string, number>[] = [];
  await trainInBrowser({
    images: FRAMES, config: CONFIG, backend: 'wasm',
    onProgress: (e) => { if (e.kind === 'step') steps.push({ ...e.losses, dReinit: Number(e.losses.dReinit) }); },
  });
  return steps;
}

/** The built test page on a 127.0.0.1 server without COOP/COEP, and Chromium with a fresh profile. */
async function startPageAndBrowser(name: string, extraFlags: string[] = []): Promise<{ work: string; server: StaticServer; profile: string; context: BrowserContext }> {
  const work = await mkdtemp(join(tmpdir(), `ganomaly-${name}-`));
  await buildTrainPage(work);
  // Not cross-origin isolated: single-threaded WASM in both tfjs and ORT, as in Node.
  const server = await serveFolder(work, { isolated: false });
  const profile = await mkdtemp(join(tmpdir(), 'ganomaly-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, ...extraFlags] });
  return { work, server, profile, context };
}

/** Every loss of every step within `tol` of Node's; returns the largest difference. */
function expectLossesNear(page: Record<string, number>[], node: Record<string, number>[], tol: number): number {
  expect(page.length).toBe(node.length);
  let worst = 0;
  page.forEach((s, i) => {
    for (const k of ['errG', 'errGAdv', 'errGCon', 'errGEnc', 'errD', 'errDReal', 'errDFake']) {
      const d = Math.abs(s[k]! - node[i]![k]!);
      worst = Math.max(worst, d);
      expect(d, `step ${i} ${k}`).toBeLessThanOrEqual(tol);
    }
  });
  return worst;
}

async function stopPageAndBrowser(context: BrowserContext | undefined, server: StaticServer | undefined, dirs: (string | undefined)[]): Promise<void> {
  await context?.close();
  await server?.close();
  for (const d of dirs) if (d) await rm(d, { recursive: true, force: true });
}

describe('browser training: units', () => {
  it('checkpoint bytes round-trip; corrupt ones are refused', () => {
    const bytes = packCheckpoint({ state: { epoch: 1 }, config: { a: 2 }, tensors: { w: { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, b: { shape: [1], data: Float32Array.of(7) } } });
    const back = unpackCheckpoint<{ epoch: number }, { a: number }>(bytes.slice());
    expect(back.state.epoch).toBe(1);
    expect(back.config.a).toBe(2);
    expect(Array.from(back.tensors.w!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.tensors.w!.shape).toEqual([2, 3]);
    expect(() => unpackCheckpoint(bytes.subarray(0, bytes.length - 8))).toThrow(/truncated/);
    expect(() => unpackCheckpoint(new Uint8Array(12))).toThrow(/not a ganomaly-edge training checkpoint/);
  });

  it('zip: stored entries that Python\'s zipfile reads back, CRCs right', async () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-zip-'));
    const files = { 'm/a.txt': new TextEncoder().encode('hello'), 'm/b.bin': Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 255) };
    await writeFile(join(dir, 'x.zip'), zipFiles(files));
    const r = spawnSync(PYTHON, ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(",".join(f"{i.filename}:{i.file_size}" for i in z.infolist()))', join(dir, 'x.zip')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('m/a.txt:5,m/b.bin:70000');
    await rm(dir, { recursive: true, force: true });
  });

  it('resume from checkpoint bytes: 1 epoch + resume to 2 equals 2 epochs straight (losses and weights)', async () => {
    const straight: number[] = [];
    const full = await trainInBrowser({ images: FRAMES, config: CONFIG, backend: 'cpu', onProgress: (e) => { if (e.kind === 'step') straight.push(e.losses.errG); } });
    const resumed: number[] = [];
    let afterOne: Uint8Array | undefined;
    await trainInBrowser({ images: FRAMES, config: { ...CONFIG, epochs: 1 }, backend: 'cpu', onCheckpoint: (b) => { afterOne = b; }, onProgress: (e) => { if (e.kind === 'step') resumed.push(e.losses.errG); } });
    const rest = await trainInBrowser({ images: FRAMES, config: { epochs: 2 }, resume: afterOne, backend: 'cpu', onProgress: (e) => { if (e.kind === 'step') resumed.push(e.losses.errG); } });
    expect(resumed).toEqual(straight);
    for (const [k, t] of Object.entries(full.weights)) expect(Array.from(rest.weights[k]!.data), k).toEqual(Array.from(t.data));
    expect(() => unpackCheckpoint(full.checkpoint)).not.toThrow();
  });

  it('an export after a mid-epoch stop records the steps into the unfinished epoch', async () => {
    const controller = new AbortController();
    let steps = 0;
    const result = await trainInBrowser({
      images: FRAMES, config: { ...CONFIG, epochs: 1 }, backend: 'cpu', signal: controller.signal,
      onProgress: (e) => { if (e.kind === 'step' && ++steps === 2) controller.abort(); },
    });
    expect(result.stopped).toBe(true);
    expect(result.trained).toEqual({ epochs: 0, stepsInEpoch: 2 });
    const ex = await exportInBrowser(result, { precisions: ['fp32'], parityImages: 2, ort: ortWeb as never });
    expect(ex.manifest.training).toMatchObject({ epochsCompleted: 0, stepsIntoNextEpoch: 2 });
    expect(ex.manifest.threshold).toMatchObject({ method: 'quantile', quantile: 0.99, of: result.validation.count });
    expect(ex.manifest.tools['ganomaly-edge']).toBe(JSON.parse(await readFile('package.json', 'utf8')).version);
  });

  it('refuses too few frames and bad configs with clear errors', async () => {
    await expect(trainInBrowser({ images: FRAMES.slice(0, 1), config: CONFIG, backend: 'cpu' })).rejects.toThrow(/at least 2 frames/);
    await expect(trainInBrowser({ images: FRAMES.slice(0, 4), config: CONFIG, backend: 'cpu' })).rejects.toThrow(/fewer than one batch/);
    await expect(trainInBrowser({ images: FRAMES, config: { ...CONFIG, batchSize: 1 }, backend: 'cpu' })).rejects.toThrow(/batchSize must be an integer from 2 to 65536 \(images\); got 1/);
  });

  it('the @ganomaly-edge/browser bundle holds no Node built-ins or runtime copy, sharp, onnxruntime-node or file-based training code', async () => {
    const r = await build({
      entryPoints: ['src/browser/index.ts'], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, metafile: true, splitting: true,
      outdir: '.tmp/browser-bundle', logLevel: 'silent', external: ['@ganomaly-edge/*'],
    });
    const inputs = Object.keys(r.metafile.inputs);
    const imports = Object.values(r.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(inputs.filter((p) => FORBIDDEN.test(p))).toEqual([]);
    expect(imports.filter((p) => FORBIDDEN.test(p) || /^(fs|path|os|crypto|worker_threads|child_process)$/.test(p))).toEqual([]);
    expect(inputs.some((p) => p.includes('src/train/loop.ts'))).toBe(true);
    // The runtime is imported by name, never bundled: a page that also scores holds one copy.
    expect(inputs.filter((p) => p.includes('src/runtime/'))).toEqual([]);
    expect(imports).toContain('@ganomaly-edge/runtime/web');
  });
});

describe.skipIf(!HAVE_CHROMIUM && !REQUIRED)('browser training in headless Chromium', () => {
  let work: string;
  let server: StaticServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const errors: string[] = [];
  let nodeSteps: Record<string, number>[];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`GANOMALY_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
    // The Node side first: the same function, the same frames, the WASM backend.
    nodeSteps = await nodeWasmSteps();
    ({ work, server, profile, context } = await startPageAndBrowser('browser-train'));
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById('out')?.textContent === 'loaded', null, { timeout: 60_000 });
  }, 300_000);

  afterAll(() => stopPageAndBrowser(context, server, [work, profile]));

  it('trains in the page to the losses the same code reaches in Node (≤1e-4 per step), on WASM', async () => {
    const r = await page.evaluate(([frames, config]) => (window as any).fixture.train(frames, config, 'wasm'), [FRAMES.map(asJson), CONFIG] as const) as {
      steps: Record<string, number>[]; backend: { name: string; threads?: number; threadsWhy?: string }; split: { trainNormal: number; validationNormal: number }; seconds: number;
    };
    expect(errors).toEqual([]);
    expect(r.backend.name).toBe('wasm');
    // This server sends no COOP/COEP: one thread, and the report says why.
    expect(r.backend.threads).toBe(1);
    expect(r.backend.threadsWhy).toBe('page not cross-origin isolated (COOP/COEP headers missing): 1 thread');
    expect(server.fetched.map((f) => f.path)).toContain('/tfjs-backend-wasm-simd.wasm');
    expect(r.split).toMatchObject({ trainNormal: 15, validationNormal: 5 });
    expect(r.steps.length).toBe(2 * Math.floor(15 / 4));
    const worst = expectLossesNear(r.steps, nodeSteps, 1e-4);
    console.log(`browser vs Node losses over ${r.steps.length} steps: max |diff| ${worst.toExponential(2)}; page trained in ${r.seconds.toFixed(1)} s`);
  }, 120_000);

  it('keeps checkpoint bytes in IndexedDB and reads them back unchanged', async () => {
    const r = await page.evaluate(() => (window as any).fixture.idbRoundTrip()) as { bytes: number; same: boolean; gone: boolean };
    expect(r.bytes).toBeGreaterThan(1000);
    expect(r.same).toBe(true);
    expect(r.gone).toBe(true);
  });

  it('exports in the page; Node\'s runtime loads the folder and scores like the page (≤1e-4); checker passes', async () => {
    const r = await page.evaluate((frames) => (window as any).fixture.exportAndScore(frames), FRAMES.map(asJson)) as {
      files: Record<string, string>; scores: number[]; int8Scores: number[]; zip: string;
    };
    expect(errors).toEqual([]);
    expect(Object.keys(r.files).sort()).toEqual(['E.onnx', 'GD.onnx', 'GE.onnx', 'detector.fp16.onnx', 'detector.int8.onnx', 'detector.onnx', 'manifest.json']);
    const dir = join(work, 'exported');
    await mkdir(dir);
    for (const [k, v] of Object.entries(r.files)) await writeFile(join(dir, k), Buffer.from(v, 'base64'));
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.tools['tfjs-backend']).toBe('wasm');
    expect(manifest.calibration.count).toBe(5);
    for (const [k, v] of Object.entries(manifest.parity as Record<string, number>)) if (k.includes('.')) expect(v, k).toBeLessThanOrEqual(1e-4);
    for (const precision of ['fp32', 'int8'] as const) {
      const d = await createDetector({ model: dir, executionProviders: ['cpu'], precision, logger: null });
      const node = (await d.score(FRAMES)).map((x) => x.score);
      await d.dispose();
      const page = precision === 'fp32' ? r.scores : r.int8Scores;
      node.forEach((s, i) => expect(Math.abs(s - page[i]!), `${precision} frame ${i}`).toBeLessThanOrEqual(1e-4));
    }
    if (hasOnnxChecker) {
      const graphs = ['GE.onnx', 'GD.onnx', 'E.onnx', 'detector.onnx', 'detector.fp16.onnx', 'detector.int8.onnx'].map((f) => join(dir, f));
      const c = spawnSync(PYTHON, ['-c', 'import sys, onnx\nfor p in sys.argv[1:]: onnx.checker.check_model(onnx.load(p), full_check=True)\nprint("ok")', ...graphs], { encoding: 'utf8' });
      expect(c.stderr).toBe('');
      expect(c.stdout.trim()).toBe('ok');
    }
    // The download: a zip whose folder the Node runtime loads unchanged.
    await writeFile(join(work, 'model.zip'), Buffer.from(r.zip, 'base64'));
    const unzip = spawnSync(PYTHON, ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', join(work, 'model.zip'), join(work, 'unzipped')], { encoding: 'utf8' });
    expect(unzip.status).toBe(0);
    const d = await createDetector({ model: join(work, 'unzipped', 'page-model'), executionProviders: ['cpu'], logger: null });
    expect(Math.abs((await d.score(FRAMES[0]!)).score - r.scores[0]!)).toBeLessThanOrEqual(1e-4);
    await d.dispose();
  }, 120_000);
});

type PageRun = { steps: Record<string, number>[]; backend: { name: string; reason: string; threads?: number; threadsWhy?: string }; fused: boolean };

describe.skipIf(!HAVE_CHROMIUM && !REQUIRED)('in-page training threads (tfjs WASM)', () => {
  let work: string;
  let isolated: StaticServer;
  let profile: string;
  let context: BrowserContext;
  const errors: string[] = [];

  /** A fresh page per run: tfjs fixes its WASM build and thread count when a page first starts it. */
  async function trainInPage(srv: StaticServer, opts: { wasmThreads?: number }): Promise<PageRun & { fetched: string[]; cores: number }> {
    srv.reset();
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(srv.url);
    await page.waitForFunction(() => document.getElementById('out')?.textContent === 'loaded', null, { timeout: 60_000 });
    const r = await page.evaluate(([frames, config, o]) => (window as any).fixture.train(frames, config, 'wasm', o), [FRAMES.map(asJson), CONFIG, opts] as const) as PageRun;
    const env = await page.evaluate(() => (window as any).fixture.environment()) as { hardwareConcurrency: number; crossOriginIsolated: boolean };
    await page.close();
    return { ...r, fetched: srv.fetched.map((f) => f.path), cores: env.hardwareConcurrency };
  }

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`GANOMALY_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
    work = await mkdtemp(join(tmpdir(), 'ganomaly-browser-threads-'));
    await buildTrainPage(work);
    isolated = await serveFolder(work, { isolated: true });
    profile = await mkdtemp(join(tmpdir(), 'ganomaly-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS] });
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    await isolated?.close();
    for (const d of [work, profile]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('an isolated page trains on the threaded build with every core, to the same losses as one thread (bit for bit)', async () => {
    const threaded = await trainInPage(isolated, {});
    const single = await trainInPage(isolated, { wasmThreads: 1 });
    expect(errors).toEqual([]);
    const cores = Math.min(8, threaded.cores);
    expect(threaded.backend.threads).toBe(cores);
    expect(threaded.backend.threadsWhy).toBe(`page cross-origin isolated: every core (navigator.hardwareConcurrency ${threaded.cores}): ${cores} thread${cores === 1 ? '' : 's'}`);
    if (cores > 1) {
      expect(threaded.backend.reason).toBe(`tfjs WebAssembly (threaded SIMD build, ${cores} threads) with fast conv-gradient kernels`);
      expect(threaded.fetched).toContain('/tfjs-backend-wasm-threaded-simd.wasm');
    }
    expect(single.backend).toMatchObject({ threads: 1, threadsWhy: 'wasmThreads: 1 thread', reason: 'tfjs WebAssembly (single-threaded) with fast conv-gradient kernels' });
    expect(single.fetched).toContain('/tfjs-backend-wasm-simd.wasm');
    expect(single.fetched).not.toContain('/tfjs-backend-wasm-threaded-simd.wasm');
    // The fused kernels run in both (JavaScript loops on the wasm heap, shared memory or not).
    expect([threaded.fused, single.fused]).toEqual([true, true]);
    // Bit-identical: XNNPACK splits a convolution or matmul among threads by output tiles and never
    // splits a sum, so each value is computed by the same instructions whatever the thread count;
    // every other kernel of the step runs on the page's thread.
    expect(threaded.steps.length).toBe(2 * Math.floor(15 / 4));
    expect(threaded.steps).toEqual(single.steps);
  }, 180_000);

  it('wasmThreads in range is what the page gets; out of range is a RangeError in the page', async () => {
    const two = await trainInPage(isolated, { wasmThreads: 2 });
    expect(two.backend).toMatchObject({ threads: 2, threadsWhy: 'wasmThreads: 2 threads' });
    const page = await context.newPage();
    await page.goto(isolated.url);
    await page.waitForFunction(() => document.getElementById('out')?.textContent === 'loaded', null, { timeout: 60_000 });
    const e = await page.evaluate(([frames, config]) => (window as any).fixture.train(frames, config, 'wasm', { wasmThreads: 9 }).then(() => null, (x: Error) => `${x.name}: ${x.message}`), [FRAMES.map(asJson), CONFIG] as const);
    await page.close();
    expect(e).toBe('RangeError: wasmThreads must be an integer from 1 to 8 (threads); got 9');
  }, 180_000);
});

describe.skipIf(!HAVE_CHROMIUM && !REQUIRED)('in-page training on WebGPU (Chromium\'s SwiftShader adapter here)', () => {
  let work: string;
  let server: StaticServer;
  let profile: string;
  let context: BrowserContext;
  const errors: string[] = [];
  let nodeSteps: Record<string, number>[];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`GANOMALY_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
    nodeSteps = await nodeWasmSteps();
    // Without the flag Chromium blocklists CPU adapters and requestAdapter() returns null.
    ({ work, server, profile, context } = await startPageAndBrowser('browser-webgpu', ['--enable-unsafe-webgpu']));
  }, 300_000);

  afterAll(() => stopPageAndBrowser(context, server, [work, profile]));

  it('trainInBrowser runs the fused WGSL kernels, to the losses of the WASM step in Node (≤1e-4 per step)', async (ctx) => {
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById('out')?.textContent === 'loaded', null, { timeout: 60_000 });
    const env = await page.evaluate(() => (window as any).fixture.environment()) as { webgpuAdapter: string | null };
    if (env.webgpuAdapter === null) {
      if (REQUIRED) throw new Error('GANOMALY_REQUIRE_BROWSER=1 but Chromium gives no WebGPU adapter');
      ctx.skip();
    }
    const r = await page.evaluate(([frames, config]) => (window as any).fixture.train(frames, config, 'webgpu'), [FRAMES.map(asJson), CONFIG] as const) as PageRun;
    await page.close();
    expect(errors).toEqual([]);
    expect(r.backend.name).toBe('webgpu');
    expect(r.fused).toBe(true);
    const worst = expectLossesNear(r.steps, nodeSteps, 1e-4);
    console.log(`WebGPU (${env.webgpuAdapter}) in the page vs WASM in Node over ${r.steps.length} steps: max |diff| ${worst.toExponential(2)}`);
  }, 300_000);
});
