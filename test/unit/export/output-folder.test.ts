// `ganomaly export` into an existing folder (issue 13): refused unless --force; with --force the
// whole folder is replaced (no stale D.onnx or README); two concurrent exports into one folder:
// one fails clearly, the folder that remains passes its integrity check; no temp folder or lock
// is left behind.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../../src/cli/export.js';
import { exportRun } from '../../../src/export/index.js';
import { ExportError } from '../../../src/export/errors.js';
import { createDetector } from '../../../src/runtime/node.js';
import { train } from '../../../src/train/index.js';
import { tinyTrainConfig } from '../../helpers/tiny-run.js';

const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'ganomaly-export-hard-'));
const hashes = async (dir: string) => Object.fromEntries(await Promise.all((await fs.readdir(dir)).sort().map(async (f) => [f, createHash('sha256').update(await fs.readFile(path.join(dir, f))).digest('hex')])));

describe('export into an existing folder', () => {
  const cfg = tinyTrainConfig({ epochs: 1, maxImages: 160, batchSize: 16 });
  beforeAll(async () => {
    await train(cfg);
  }, 240_000);

  it('refuses a non-empty folder without --force, leaving it untouched', async () => {
    const out = path.join(await tmp(), 'm');
    await exportRun(cfg.out, { out, backend: 'cpu' });
    const before = await hashes(out);
    await expect(exportRun(cfg.out, { out, backend: 'cpu' })).rejects.toThrow(/is not empty .*pass --force/);
    expect(await hashes(out)).toEqual(before);
    // The CLI: exit through the same typed error; --force goes through.
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(run([cfg.out, '--out', out, '--backend', 'cpu'])).rejects.toBeInstanceOf(ExportError);
      expect(await run([cfg.out, '--out', out, '--backend', 'cpu', '--force'])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    expect(Object.keys(await hashes(out))).toEqual(Object.keys(before));
  }, 240_000);

  it('--force replaces the whole folder: no stale D.onnx, no old README; no temp folder or lock left', async () => {
    const parent = await tmp();
    const out = path.join(parent, 'm');
    await exportRun(cfg.out, { out, backend: 'cpu', discriminator: true });
    await fs.writeFile(path.join(out, 'README.md'), 'describes the old model');
    expect((await fs.readdir(out)).sort()).toContain('D.onnx');
    // D.onnx is parity-checked like the other graphs (the README says every graph is).
    const withD = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8')) as { parity: Record<string, number> };
    expect(withD.parity['D.prob']).toBeLessThanOrEqual(1e-4);
    expect(withD.parity['D.features']).toBeLessThanOrEqual(1e-4);
    const { manifest } = await exportRun(cfg.out, { out, backend: 'cpu', force: true });
    expect((await fs.readdir(out)).sort()).toEqual(['E.onnx', 'GD.onnx', 'GE.onnx', 'detector.fp16.onnx', 'detector.int8.onnx', 'detector.onnx', 'manifest.json']);
    expect(Object.keys(manifest.files).sort()).toEqual(['E.onnx', 'GD.onnx', 'GE.onnx', 'detector.fp16.onnx', 'detector.int8.onnx', 'detector.onnx']);
    expect(await fs.readdir(parent)).toEqual(['m']);
  }, 240_000);

  it('two concurrent exports into one folder: one fails clearly, the other leaves a folder that loads', async () => {
    const parent = await tmp();
    const out = path.join(parent, 'm');
    const results = await Promise.allSettled([
      exportRun(cfg.out, { out, backend: 'cpu', force: true }),
      exportRun(cfg.out, { out, backend: 'cpu', force: true, discriminator: true }),
    ]);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(ExportError);
    expect((failed[0]!.reason as Error).message).toMatch(/another export \(process \d+\) is writing/);
    const d = await createDetector({ model: out, executionProviders: ['cpu'], logger: null }); // integrity check passes
    await d.dispose();
    expect(await fs.readdir(parent)).toEqual(['m']);
  }, 240_000);

  it('triton checks the manifest core hash stamped into detector.onnx (an edited manifest is refused)', async () => {
    const { writeTritonRepository } = await import('../../../src/export/triton.js');
    const parent = await tmp();
    const out = path.join(parent, 'm');
    await exportRun(cfg.out, { out, backend: 'cpu' });
    await writeTritonRepository(out, path.join(parent, 'triton-ok'));
    const file = path.join(out, 'manifest.json');
    const m = JSON.parse(await fs.readFile(file, 'utf8')) as { preprocessing: { std: number[] } };
    m.preprocessing.std = [0.25];
    await fs.writeFile(file, JSON.stringify(m));
    await expect(writeTritonRepository(out, path.join(parent, 'triton-bad'))).rejects.toThrow(/changed after export/);
  }, 240_000);

  it('a lock left by a dead process is taken over', async () => {
    const parent = await tmp();
    await fs.writeFile(path.join(parent, '.m.export-lock'), '999999999\n');
    await exportRun(cfg.out, { out: path.join(parent, 'm'), backend: 'cpu' });
    expect(await fs.readdir(parent)).toEqual(['m']);
  }, 240_000);
});
