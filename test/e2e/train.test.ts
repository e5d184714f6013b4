import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { train, type EpochSummary } from '../../src/train/trainer.js';
import { tinyTrainConfig } from '../helpers/tiny-run.js';

const strip = (h: EpochSummary[]) => h.map(({ seconds, imagesPerSec, ...rest }) => rest);

describe('trainer', () => {
  it('writes a run folder, and resume (between and within epochs) reproduces an uninterrupted run', async () => {
    const full = tinyTrainConfig();
    const a = await train(full);
    expect(a.stopped).toBe(false);
    expect(a.history).toHaveLength(2);
    const files = await fs.readdir(full.out);
    for (const f of ['config.json', 'split.json', 'history.json', 'checkpoint.json']) expect(files).toContain(f);
    expect(files.filter((f) => f.endsWith('.bin'))).toHaveLength(1);
    const split = JSON.parse(await fs.readFile(path.join(full.out, 'split.json'), 'utf8'));
    expect(split.seed).toBe(5);
    expect(split.trainNormal + split.validationNormal + split.testNormal + split.testAbnormal).toBe(240);
    const v = a.history[1]!.validation;
    expect(v.count).toBe(split.validationNormal);
    expect(v.min).toBeLessThanOrEqual(v.p50);
    expect(v.p99).toBeLessThanOrEqual(v.max);

    // 1 epoch, then resume to 2.
    const b = tinyTrainConfig({ epochs: 1 });
    await train(b);
    const b2 = await train({ ...b, epochs: 2 }, { resume: true });
    expect(strip(b2.history)).toEqual(strip(a.history));

    // Stop mid-epoch after 3 steps of epoch 2, then resume.
    const c = tinyTrainConfig();
    const ctl = new AbortController();
    let steps = 0;
    const stopped = await train(c, {
      signal: ctl.signal,
      onProgress: (e) => { if (e.kind === 'step' && e.epoch === 2 && ++steps === 3) ctl.abort(); },
    });
    expect(stopped.stopped).toBe(true);
    expect(stopped.history).toHaveLength(1);
    const c2 = await train(c, { resume: true });
    expect(strip(c2.history)).toEqual(strip(a.history));

    const wa = await loadCheckpoint(full.out);
    const wc = await loadCheckpoint(c.out);
    for (const k of Object.keys(wa.tensors)) expect(Array.from(wc.tensors[k]!.data)).toEqual(Array.from(wa.tensors[k]!.data));
  }, 300_000);

  it('refuses to overwrite a run, and explains bad configs', async () => {
    const cfg = tinyTrainConfig({ epochs: 1, maxImages: 120 });
    await train(cfg);
    await expect(train(cfg)).rejects.toThrow(/--resume/);
    await expect(train(tinyTrainConfig({ batchSize: 1 }))).rejects.toThrow(RangeError);
    await expect(train(tinyTrainConfig({ batchSize: 512, maxImages: 100 }))).rejects.toThrow(/fewer than one batch/);
    await expect(train(tinyTrainConfig({ data: 'nope:/x' }))).rejects.toThrow(/fashion-mnist|folder:/);
  }, 120_000);
});
