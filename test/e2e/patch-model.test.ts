// Patch models end to end: Fashion-MNIST frames (scripts/patch-frames.ts) → a tiny tiled run →
// export (frame-level calibration, tiling in the manifest and its core hash, the official ONNX
// checker) → the same frame scores in onnxruntime-node and in headless Chromium, tiles cut
// bit-identically in both → eval at frame level with localisation.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameCount, loadDataset, NAMED_DATASETS } from '../../src/data/index.js';
import { evaluateModel } from '../../src/eval/index.js';
import { exportRun } from '../../src/export/index.js';
import { train } from '../../src/train/trainer.js';
import { createDetector, cutFrameTiles, type Manifest, type RawImage } from '../../src/runtime/node.js';
import { decodeImageFile } from '../../src/data/index.js';
import type { Tiling } from '../../src/types.js';
import { makePatchFrames, type PatchFrames } from '../../scripts/patch-frames.js';
import { tinyTrainConfig } from '../helpers/tiny-run.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../helpers/chromium.js';
import { startWebServer, type WebServer } from '../helpers/serve-web.js';

const REQUIRE_BROWSER = process.env.GANOMALY_REQUIRE_BROWSER === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const tiling: Tiling = { tile: 32, stride: 32, frame: { width: 128, height: 128 }, reduce: 'max' };

describe('a patch model from frames to scores', () => {
  let work: string;
  let frames: PatchFrames;
  let modelDir: string;
  let manifest: Manifest;
  const cfgFor = (out: string) => tinyTrainConfig({
    data: '', abnormalClass: undefined, maxImages: undefined, out, epochs: 1, batchSize: 32,
    model: { isize: 32, nc: 1, nz: 8, ngf: 4, ndf: 4, scoreKind: 'l2' }, tiling, backend: 'wasm',
  });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ganomaly-patch-'));
    frames = await makePatchFrames({ idxDir: process.env[NAMED_DATASETS['fashion-mnist'].env] || NAMED_DATASETS['fashion-mnist'].dir, heldOut: 1, normalFrames: 60, abnormalFrames: 10, seed: 3, out: join(work, 'data') });
    const cfg = { ...cfgFor(join(work, 'run')), data: frames.item };
    await train(cfg);
    modelDir = join(work, 'model');
    ({ manifest } = await exportRun(cfg.out, { out: modelDir, backend: 'wasm', precisions: ['fp32'], parityImages: 4 }));
  }, 300_000);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('splits by frame before cutting, so no frame lends tiles to two sets', async () => {
    const data = await loadDataset(frames.item, { isize: 32, nc: 1, seed: 5, tiling });
    const sets = [data.train, data.validation, data.test];
    for (const s of sets) {
      expect(s.frames).toBeDefined();
      expect(s.count).toBe(frameCount(s) * 16);
      for (let f = 0; f < s.frames!.count; f++) expect(s.frames!.start[f + 1]! - s.frames!.start[f]!).toBe(16);
    }
    const seen = sets.map((s) => new Set(s.sources));
    expect([...seen[0]!].some((p) => seen[1]!.has(p) || seen[2]!.has(p))).toBe(false);
    expect([...seen[1]!].some((p) => seen[2]!.has(p))).toBe(false);
    expect(data.split.testAbnormal).toBe(10);
    expect(data.split.trainNormal + data.split.validationNormal + data.split.testNormal).toBe(60);
  });

  it('exports the tiling, frame-level calibration and graphs the official checker accepts', () => {
    expect(manifest.tiling).toEqual(tiling);
    expect(manifest.calibration.count).toBe(manifest.split!.validationNormal);
    expect(manifest.threshold.of).toBe(manifest.split!.validationNormal);
    expect(manifest.threshold.rule).toMatch(/frame scores \(worst tile\)/);
    const c = spawnSync('/usr/bin/python3', ['-c', 'import sys, onnx\nonnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\nprint("ok")', join(modelDir, 'detector.onnx')], { encoding: 'utf8' });
    expect(c.stdout.trim(), c.stderr).toBe('ok');
  });

  it('evaluates frames and says how often the worst tile holds the anomaly', async () => {
    const { report } = await evaluateModel({ model: modelDir, data: frames.defect });
    expect(report.tiling).toEqual(tiling);
    expect(report.split.testAbnormal).toBe(10);
    expect(report.localisation!.frames).toBe(10);
    expect(report.localisation!.share).toBe(report.localisation!.hits / 10);
    expect(report.calibrationCheck?.ok).toBe(true);
  });

  describe.skipIf(!HAVE_CHROMIUM && !REQUIRE_BROWSER)('in headless Chromium', () => {
    let server: WebServer;
    let context: BrowserContext;
    let page: Page;
    let profile: string;
    const names = ['normal/n00000.png', 'normal/n00001.png', 'abnormal/a00000.png'];

    beforeAll(async () => {
      const dir = frames.item.replace(/^folder:/, '');
      for (const [i, n] of names.entries()) await copyFile(join(dir, n), join(modelDir, `frame${i}.png`));
      server = await startWebServer({ model: modelDir });
      profile = await mkdtemp(join(tmpdir(), 'ganomaly-chromium-'));
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS] });
      page = context.pages()[0] ?? (await context.newPage());
      await page.goto(server.url);
      await page.waitForFunction(() => Boolean((window as any).ganomaly?.createDetector), null, { timeout: 60_000 });
    }, 120_000);
    afterAll(async () => {
      await context?.close();
      await server?.close();
      if (profile) await rm(profile, { recursive: true, force: true });
    });

    it('cuts bit-identical tiles and gives the frame scores Node gives (≤1e-4)', async () => {
      const dir = frames.item.replace(/^folder:/, '');
      const imgs: RawImage[] = [];
      for (const n of names) imgs.push(await decodeImageFile(join(dir, n)));
      const d = await createDetector({ model: modelDir, executionProviders: ['cpu'], logger: null });
      const node = await d.score(imgs);
      await d.dispose();
      const page1 = await page.evaluate(async ({ n, raw, tiling, pre }) => {
        const g = (window as any).ganomaly;
        const d = await g.createDetector({ model: './model/', executionProviders: ['wasm'] });
        const rs = await d.score(Array.from({ length: n }, (_, i) => `./model/frame${i}.png`));
        const cut = g.cutFrameTiles({ ...raw, data: new Uint8Array(raw.data) }, tiling, pre);
        await d.dispose();
        return { scores: rs.map((r: any) => r.score), boxes: rs.map((r: any) => r.worstTile.box), tiles: Array.from(cut.data as Float32Array) };
      }, { n: names.length, raw: { ...imgs[2]!, data: Array.from(imgs[2]!.data) }, tiling, pre: manifest.preprocessing });
      page1.scores.forEach((s: number, i: number) => expect(Math.abs(s - node[i]!.score)).toBeLessThanOrEqual(1e-4));
      expect(page1.boxes).toEqual(node.map((r) => r.worstTile!.box));
      expect(page1.tiles).toEqual(Array.from(cutFrameTiles(imgs[2]!, tiling, manifest.preprocessing).data));
    }, 120_000);
  });
});
