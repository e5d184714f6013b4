// The browser runtime in real headless Chromium, served by scripts/serve-web.mjs: the demo page
// loads a model folder, decodes PNGs with canvas, and must score like Node (WASM and WebGPU).
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector, type ScoreResult } from '../../src/runtime/node.js';
import type { RawImage } from '../../src/runtime/core/pixels.js';
import { makeModelFolder, testImage, type TestModel } from '../helpers/make-model.js';
import { startWebServer, type WebServer } from '../helpers/serve-web.js';
import { CHROMIUM, CHROMIUM_FLAGS, FAKE_CAMERA_FLAGS } from '../helpers/chromium.js';

const REQUIRED = process.env.GANOMALY_REQUIRE_BROWSER === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && !REQUIRED) {
  console.warn(`browser tests SKIPPED: ${CHROMIUM} not found (install chromium, or set GANOMALY_REQUIRE_BROWSER=1 to fail instead)`);
}

// FACTS.md: headless Chromium that never reaches outside hosts; WebGPU on SwiftShader needs the unsafe flag;
// the fake media device gives the demo's webcam mode a synthetic camera.
const FLAGS = [...CHROMIUM_FLAGS, '--enable-unsafe-webgpu', ...FAKE_CAMERA_FLAGS];

/** Test images written as PNGs into the model folder, so the page can fetch them from /model/. */
const IMAGES: Record<string, RawImage> = {
  'grey.png': testImage(40, 36, 1, 21),
  'rgb.png': testImage(64, 48, 3, 22),
  // Opaque alpha: canvas stores premultiplied alpha, so translucent pixels would not round-trip exactly.
  'rgba.png': (() => {
    const img = testImage(30, 30, 4, 23);
    for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
    return img;
  })(),
};

interface PageScores {
  provider: string;
  isolated: boolean;
  scores: number[];
  maps: number[][];
}

describe.skipIf(!HAVE_CHROMIUM && !REQUIRED)('browser runtime (headless Chromium)', () => {
  let model: TestModel;
  let server: WebServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let node: ScoreResult[];
  const errors: string[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`GANOMALY_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
    model = await makeModelFolder(undefined, undefined, { variants: true }); // ngf 8, isize 32: SwiftShader WebGPU is slow
    for (const [name, img] of Object.entries(IMAGES)) {
      const channels = img.channels as 1 | 3 | 4;
      await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels } }).png().toFile(join(model.dir, name));
    }
    const d = await createDetector({ model: model.dir, executionProviders: ['cpu'] });
    node = await d.score(Object.keys(IMAGES).map((n) => join(model.dir, n)), { outputs: ['anomalyMap'] });
    await d.dispose();
    server = await startWebServer({ model: model.dir });
    profile = await mkdtemp(join(tmpdir(), 'ganomaly-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}?providers=wasm&autoload=1`);
    await page.waitForFunction(() => {
      const s = (window as any).ganomaly?.state;
      return s && (s.detector || s.error);
    }, null, { timeout: 60_000 });
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const scoreInPage = (providers: string[] | null, names: string[], precision = 'fp32') =>
    page.evaluate(
      async ({ providers, names, raw, precision }) => {
        const g = (window as any).ganomaly;
        const d = providers ? await g.createDetector({ model: './model/', executionProviders: providers, precision }) : g.state.detector;
        // Every kind of input the page can get: URL strings, an <img>, a Blob, ImageData, raw pixels.
        const urls = names.map((n: string) => `./model/${n}`);
        const inputs: unknown[] = [...urls];
        if (!providers) {
          const img = new Image();
          img.src = urls[0];
          const blob = await (await fetch(urls[1])).blob();
          const bitmap = await createImageBitmap(await (await fetch(urls[2])).blob(), { colorSpaceConversion: 'none' });
          const c = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
          c.drawImage(bitmap, 0, 0);
          inputs.push(img, blob, c.getImageData(0, 0, bitmap.width, bitmap.height), { ...raw, data: new Uint8Array(raw.data) });
        }
        const results = await d.score(inputs, { outputs: ['anomalyMap'] });
        const out = {
          provider: d.provider,
          isolated: crossOriginIsolated,
          scores: results.map((r: any) => r.score),
          maps: results.map((r: any) => Array.from(r.anomalyMap.data as Float32Array)),
        };
        if (providers) await d.dispose();
        return out;
      },
      { providers, names, precision, raw: { ...IMAGES['rgb.png']!, data: Array.from(IMAGES['rgb.png']!.data) } },
    ) as Promise<PageScores>;

  const expectClose = (a: number[], b: number[], tol: number) => a.forEach((x, i) => expect(Math.abs(x - b[i]!), `#${i}`).toBeLessThanOrEqual(tol));

  it('WASM: every input kind decodes and scores as in Node (≤1e-4), cross-origin isolated', async () => {
    expect(await page.evaluate(() => (window as any).ganomaly.state.error)).toBeNull();
    const names = Object.keys(IMAGES);
    const r = await scoreInPage(null, names);
    expect(r.provider).toBe('wasm');
    expect(r.isolated).toBe(true);
    const want = node.map((n) => n.score);
    // urls (3), <img> of grey.png, Blob of rgb.png, ImageData of rgba.png, raw rgb pixels
    expectClose(r.scores, [...want, want[0]!, want[1]!, want[2]!, want[1]!], 1e-4);
    r.maps.slice(0, 3).forEach((m, i) => expectClose(m, Array.from(node[i]!.anomalyMap!.data), 1e-4));
  }, 60_000);

  it('the demo page scores an uploaded file and the (fake) webcam; screenshot', async () => {
    await page.setInputFiles('#file', join(model.dir, 'rgb.png'));
    await page.waitForFunction(() => (window as any).ganomaly.state.lastResult?.source === 'file:rgb.png');
    const shown = await page.evaluate(() => (window as any).ganomaly.state.lastResult.score as number);
    expect(Math.abs(shown - node[1]!.score)).toBeLessThanOrEqual(1e-4);
    expect(await page.textContent('#verdict')).toBe(node[1]!.isAnomaly ? 'ANOMALY' : 'normal');
    await page.click('#webcam');
    await page.waitForFunction(() => (window as any).ganomaly.state.lastResult?.source === 'webcam', null, { timeout: 20_000 });
    expect(Number.isFinite(await page.evaluate(() => (window as any).ganomaly.state.lastResult.score))).toBe(true);
    await page.click('#stop');
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-shot-'));
    const file = join(dir, 'demo.png');
    await page.screenshot({ path: file });
    const png = await readFile(file);
    expect(png.length).toBeGreaterThan(1000);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    console.log(`browser demo screenshot: ${file} (${png.length} bytes)`);
    expect(errors).toEqual([]);
  }, 60_000);

  it('WebGPU (SwiftShader): same scores as Node (≤1e-4)', async (ctx) => {
    const adapter = await page.evaluate(async () => Boolean(await (navigator as any).gpu?.requestAdapter()));
    if (!adapter && !REQUIRED) {
      console.warn('WebGPU browser test SKIPPED: this Chromium offers no WebGPU adapter');
      ctx.skip();
    }
    const r = await scoreInPage(['webgpu'], ['rgb.png']);
    expect(r.provider).toBe('webgpu');
    expectClose(r.scores, [node[1]!.score], 1e-4);
    expectClose(r.maps[0]!, Array.from(node[1]!.anomalyMap!.data), 1e-4);
  }, 60_000);

  it('FP16 and INT8 variants: WASM and WebGPU scores equal Node\'s for the same variant (≤1e-4)', async () => {
    const adapter = await page.evaluate(async () => Boolean(await (navigator as any).gpu?.requestAdapter()));
    const names = Object.keys(IMAGES);
    for (const precision of ['fp16', 'int8'] as const) {
      const d = await createDetector({ model: model.dir, executionProviders: ['cpu'], precision });
      const want = await d.score(names.map((n) => join(model.dir, n)), { outputs: ['anomalyMap'] });
      await d.dispose();
      expect(want.map((w) => w.threshold)).toEqual(names.map(() => model.manifest.variants![precision]!.threshold.value));
      const wasm = await scoreInPage(['wasm'], names, precision);
      expect(wasm.provider).toBe('wasm');
      expectClose(wasm.scores, want.map((w) => w.score), 1e-4);
      wasm.maps.forEach((m, i) => expectClose(m, Array.from(want[i]!.anomalyMap!.data), 1e-4));
      if (adapter || REQUIRED) {
        const gpu = await scoreInPage(['webgpu'], ['rgb.png'], precision);
        expect(gpu.provider).toBe('webgpu');
        expectClose(gpu.scores, [want[1]!.score], 1e-4);
      }
    }
  }, 120_000);
});
