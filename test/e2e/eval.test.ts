// End to end: train and export a tiny real model, then evaluate it through the runtime and check
// the split, the scores (against a direct onnxruntime run on loadDataset's tensors), the baseline
// definition, determinism, the files written and the CLI.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run as runEvalCli } from '../../src/cli/eval.js';
import { UsageError } from '../../src/cli-args.js';
import { EvalError, evaluateModel, formatSummary, type EvalResult } from '../../src/eval/index.js';
import { exportRun } from '../../src/export/index.js';
import { nhwcToNchw } from '../../src/export/layout.js';
import { NAMED_DATASETS, loadDataset } from '../../src/data/index.js';
import { train } from '../../src/train/trainer.js';
import type { Manifest } from '../../src/types.js';
import { tinyTrainConfig } from '../helpers/tiny-run.js';

const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'ganomaly-eval-'));

describe('evaluateModel', () => {
  const cfg = tinyTrainConfig({ epochs: 1 });
  let modelDir = '';
  let manifest: Manifest;
  let first: EvalResult;
  let outDir = '';

  beforeAll(async () => {
    await train(cfg);
    modelDir = path.join(await tmp(), 'tiny');
    ({ manifest } = await exportRun(cfg.out, { out: modelDir, backend: 'cpu' }));
    outDir = await tmp();
    first = await evaluateModel({ model: modelDir, out: outDir });
  }, 120_000);

  afterAll(async () => {
    await fs.rm(cfg.out, { recursive: true, force: true });
  });

  it("rebuilds the training split from the manifest and reproduces the export's calibration", () => {
    const r = first.report;
    expect(r.split).toEqual(manifest.split);
    expect(r.data).toMatchObject({ spec: 'fashion-mnist', abnormalClass: 'T-shirt/top', seed: cfg.seed, maxImages: cfg.maxImages, sameSplitAsTraining: true });
    expect(first.test.labels.length).toBe(manifest.split!.testNormal + manifest.split!.testAbnormal);
    expect(r.calibrationCheck!.images).toBe(manifest.calibration.count);
    expect(r.calibrationCheck!.ok).toBe(true);
    expect(r.calibrationCheck!.maxRelDiff).toBeLessThan(1e-5);
    expect(r.warnings).toEqual([]);
    expect(r.provider).toBe('cpu');
  });

  it('reports metrics in range with counts that add up', () => {
    const r = first.report;
    for (const m of [r.ganomaly, r.baseline]) {
      expect(m.rocAuc).toBeGreaterThanOrEqual(0);
      expect(m.rocAuc).toBeLessThanOrEqual(1);
      expect(m.averagePrecision).toBeGreaterThan(0);
      expect(m.averagePrecision).toBeLessThanOrEqual(1);
      const t = m.atThreshold!;
      expect(t.tp + t.fn).toBe(manifest.split!.testAbnormal);
      expect(t.fp + t.tn).toBe(manifest.split!.testNormal);
      expect(m.normalScores.count).toBe(manifest.split!.testNormal);
    }
    expect(r.threshold.value).toBe(manifest.threshold.value);
    const flagged = first.test.scores.filter((s) => s > manifest.threshold.value).length;
    expect(r.ganomaly.atThreshold!.tp + r.ganomaly.atThreshold!.fp).toBe(flagged);
    expect(r.baseline.threshold!.quantile).toBeGreaterThan(0.9);
  });

  it("scores exactly what onnxruntime gives on loadDataset's test tensors, and the baseline is mean |x − x̂|", async () => {
    const { isize, nc } = manifest.model;
    const data = await loadDataset('fashion-mnist', { isize, nc, abnormalClass: '0', seed: cfg.seed, maxImages: cfg.maxImages, validationFraction: 0.1 });
    expect(Array.from(data.test.labels)).toEqual(Array.from(first.test.labels));
    const n = data.test.count;
    const x = nhwcToNchw(data.test.images, n, isize, isize, nc);
    const session = await ort.InferenceSession.create(path.join(modelDir, 'detector.onnx'), { executionProviders: ['cpu'] });
    const out = await session.run({ x: new ort.Tensor('float32', x, [n, nc, isize, isize]) }, ['score', 'x_hat']);
    await session.release();
    const score = out.score!.data as Float32Array;
    const xHat = out.x_hat!.data as Float32Array;
    const per = nc * isize * isize;
    for (let i = 0; i < n; i++) {
      expect(first.test.scores[i]).toBeCloseTo(score[i]!, 9);
      let sum = 0;
      for (let k = 0; k < per; k++) sum += Math.abs(x[i * per + k]! - xHat[i * per + k]!);
      expect(Math.abs(first.test.baseline[i]! - sum / per)).toBeLessThan(1e-6);
    }
  });

  it('gives identical results when run again', async () => {
    const again = await evaluateModel({ model: modelDir });
    expect(again.report.ganomaly.rocAuc).toBe(first.report.ganomaly.rocAuc);
    expect(again.report.baseline.rocAuc).toBe(first.report.baseline.rocAuc);
    expect(Array.from(again.test.scores)).toEqual(Array.from(first.test.scores));
  });

  it('writes report.json, three PNG charts and scores.csv', async () => {
    const report = JSON.parse(await fs.readFile(path.join(outDir, 'report.json'), 'utf8'));
    expect(report.ganomaly.rocAuc).toBe(first.report.ganomaly.rocAuc);
    for (const [f, w, h] of [['roc.png', 640, 520], ['hist.png', 640, 440], ['hist-baseline.png', 640, 440]] as const) {
      const meta = await sharp(path.join(outDir, f)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', w, h]);
    }
    const csv = (await fs.readFile(path.join(outDir, 'scores.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('source,label,score,baseline');
    expect(csv.length).toBe(first.test.labels.length + 1);
    const [src, label, score] = csv[1]!.split(',');
    expect(src).toMatch(/-images-idx3-ubyte(\.gz)?\[\d+\]$/);
    expect(Number(label)).toBe(first.test.labels[0]);
    expect(Number(score)).toBe(first.test.scores[0]);
  });

  it('says when the split is not the training one', async () => {
    const r = await evaluateModel({ model: modelDir, seed: cfg.seed + 1 });
    expect(r.report.data.sameSplitAsTraining).toBe(false);
    expect(r.report.calibrationCheck).toBeNull();
    expect(r.report.warnings.join()).toMatch(/may contain images the model trained on/);
    const c = await evaluateModel({ model: modelDir, abnormalClass: 'Trouser' });
    expect(c.report.data.abnormalClass).toBe('Trouser');
    expect(c.report.warnings.join()).toMatch(/differs from training's 'T-shirt\/top'/);
  });

  it('flags data that gives the same split sizes but other images (calibration check)', async () => {
    // Only the t10k files: the capped split has the same sizes, but different images.
    const dir = await tmp();
    const src = process.env[NAMED_DATASETS['fashion-mnist'].env] || NAMED_DATASETS['fashion-mnist'].dir;
    for (const f of await fs.readdir(src)) if (f.startsWith('t10k-')) await fs.copyFile(path.join(src, f), path.join(dir, f));
    const r = await evaluateModel({ model: modelDir, data: `idx:${dir}` });
    expect(r.report.split.testAbnormal).toBe(manifest.split!.testAbnormal);
    expect(r.report.calibrationCheck!.ok).toBe(false);
    expect(r.report.warnings.join()).toMatch(/differ from manifest.calibration/);
  });

  it('scores image folders through the runtime decoder exactly as training decoded them', async () => {
    const dir = await tmp();
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [cls, n, level] of [['normal', 30, 60], ['abnormal', 8, 180]] as const) {
      await fs.mkdir(path.join(dir, cls));
      for (let i = 0; i < n; i++) {
        const px = Uint8Array.from({ length: 20 * 20 * 3 }, () => Math.min(255, Math.floor(level + 70 * rand())));
        await sharp(px, { raw: { width: 20, height: 20, channels: 3 } }).png().toFile(path.join(dir, cls, `img ${i}.png`));
      }
    }
    const r = await evaluateModel({ model: modelDir, data: `folder:${dir}` });
    expect(r.report.data.sameSplitAsTraining).toBe(false);
    expect(r.report.warnings.join()).toMatch(/is not the training data .* gives another split/);
    expect(r.report.split).toMatchObject({ abnormalClass: 'abnormal', testAbnormal: 8 });
    expect(r.test.sources[0]).toMatch(/^(ab)?normal\/img \d+\.png$/);
    const { isize, nc } = manifest.model;
    const data = await loadDataset(`folder:${dir}`, { isize, nc, seed: cfg.seed, maxImages: cfg.maxImages, validationFraction: 0.1 });
    const session = await ort.InferenceSession.create(path.join(modelDir, 'detector.onnx'), { executionProviders: ['cpu'] });
    const n = data.test.count;
    const out = await session.run({ x: new ort.Tensor('float32', nhwcToNchw(data.test.images, n, isize, isize, nc), [n, nc, isize, isize]) }, ['score']);
    await session.release();
    expect(Array.from(r.test.scores)).toEqual(Array.from(out.score!.data as Float32Array));
  });

  it('refuses data whose split differs from the manifest', async () => {
    const copy = path.join(await tmp(), 'tiny');
    await fs.cp(modelDir, copy, { recursive: true });
    const m = JSON.parse(await fs.readFile(path.join(copy, 'manifest.json'), 'utf8'));
    m.split.trainNormal += 1;
    await fs.writeFile(path.join(copy, 'manifest.json'), JSON.stringify(m));
    const error = await evaluateModel({ model: copy }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EvalError);
    expect((error as Error).message).toMatch(/does not give the split this model was trained with/);
  });

  it('formats a summary table', () => {
    const s = formatSummary(first.report);
    expect(s).toMatch(/GANomaly score\s+\d\.\d{4}\s+\d\.\d{4}/);
    expect(s).toMatch(/baseline mean\|x-x̂\|\s+\d\.\d{4}/);
    expect(s).toContain('(the training split)');
  });

  it('CLI: --json prints the report; bad usage is a UsageError', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runEvalCli(['--model', modelDir, '--json'])).toBe(0);
      const printed = JSON.parse(log.mock.calls.map((c) => String(c[0])).join('\n'));
      expect(printed.ganomaly.rocAuc).toBe(first.report.ganomaly.rocAuc);
      expect(await runEvalCli(['--help'])).toBe(0);
      expect(String(log.mock.calls.at(-1)![0])).toContain('Usage: ganomaly eval');
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    await expect(runEvalCli([])).rejects.toThrow(UsageError);
    await expect(runEvalCli(['--model', modelDir, '--seed=-1'])).rejects.toThrow(/--seed must be an integer from 0 to 4294967295; got '-1'/);
    await expect(runEvalCli(['--model', modelDir, '--bogus'])).rejects.toThrow(UsageError);
  });
});
