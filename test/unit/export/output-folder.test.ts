// `ganomaly export` into an existing folder (issue 13): refused unless --force; with --force the
// whole folder is replaced (no stale D.onnx or README); two concurrent exports into one folder:
// one fails clearly, the folder that remains passes its integrity check; no temp folder or lock
// is left behind.
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../../src/cli/export.js';
import { exportRun } from '../../../src/export/index.js';
import { openExportTarget } from '../../../src/export/output.js';
import { ExportError } from '../../../src/export/errors.js';
import { createDetector } from '../../../src/runtime/node.js';
import { train } from '../../../src/train/index.js';
import { tinyTrainConfig } from '../../helpers/tiny-run.js';

const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'ganomaly-export-hard-'));
const hashes = async (dir: string) => Object.fromEntries(await Promise.all((await fs.readdir(dir)).sort().map(async (f) => [f, createHash('sha256').update(await fs.readFile(path.join(dir, f))).digest('hex')])));

describe('export into an existing folder', () => {
  // The run inside a folder of its own: a test below points --out at the run's parent.
  const cfg = tinyTrainConfig({ epochs: 1, maxImages: 160, batchSize: 16, out: path.join(mkdtempSync(path.join(os.tmpdir(), 'ganomaly-export-run-')), 'run') });
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

  it('export RUN --out RUN --force, an --out inside the run, or one that holds it: refused, the run intact and still exportable', async () => {
    const before = await hashes(cfg.out);
    const parent = path.dirname(cfg.out);
    const linkToRun = path.join(await tmp(), 'link');
    await fs.symlink(cfg.out, linkToRun);
    const cases: [string, RegExp][] = [
      [cfg.out, /is the run folder being exported/],
      [linkToRun, /is the run folder being exported/],
      [path.join(cfg.out, 'model'), /is inside the run folder/],
      [parent, /contains the run folder/],
    ];
    for (const [out, why] of cases) {
      const e = await exportRun(cfg.out, { out, backend: 'cpu', force: true }).catch((x: unknown) => x as Error);
      expect(e).toBeInstanceOf(ExportError);
      expect((e as Error).message).toMatch(why);
    }
    // The CLI exits through the same error (it exited 0 with the checkpoints, config and history gone).
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(run([cfg.out, '--out', cfg.out, '--backend', 'cpu', '--force'])).rejects.toThrow(/is the run folder being exported/);
    } finally {
      err.mockRestore();
    }
    expect(await hashes(cfg.out)).toEqual(before);
    expect(await fs.readdir(parent)).toEqual(['run']);
    await exportRun(cfg.out, { out: path.join(await tmp(), 'm'), backend: 'cpu' });
  }, 240_000);

  it('a lock left by a dead process is taken over', async () => {
    const parent = await tmp();
    await fs.writeFile(path.join(parent, '.m.export-lock'), '999999999\n');
    await exportRun(cfg.out, { out: path.join(parent, 'm'), backend: 'cpu' });
    expect(await fs.readdir(parent)).toEqual(['m']);
  }, 240_000);
});

describe('--force replaces only a model folder, and --out never overlaps the run', () => {
  const fakeRun = async () => {
    const run = await tmp();
    await fs.writeFile(path.join(run, 'config.json'), '{}');
    return run;
  };

  it('a non-empty folder that holds no model is refused even with --force, untouched', async () => {
    const run = await fakeRun();
    const out = await tmp();
    await fs.writeFile(path.join(out, 'thesis.tex'), 'years of work');
    // A web app's manifest.json is not a model's: it names no detector.onnx.
    const app = await tmp();
    await fs.writeFile(path.join(app, 'manifest.json'), JSON.stringify({ name: 'my app', icons: [] }));
    await fs.writeFile(path.join(app, 'index.html'), '<!doctype html>');
    for (const dir of [out, app]) {
      const before = await hashes(dir);
      const e = await exportRun(run, { out: dir, backend: 'cpu', force: true }).catch((x: unknown) => x as Error);
      expect(e).toBeInstanceOf(ExportError);
      expect((e as Error).message).toMatch(/is not a model folder \(no manifest\.json naming detector\.onnx; it holds .*\); --force replaces only a model folder/);
      expect(await hashes(dir)).toEqual(before);
      expect(await fs.readdir(path.dirname(dir))).toContain(path.basename(dir)); // no lock or stage left beside it
    }
  });

  it('an empty folder, or one that holds a model, is accepted with --force (the staged target opens)', async () => {
    const run = await fakeRun();
    const empty = path.join(await tmp(), 'm');
    await fs.mkdir(empty);
    const model = path.join(await tmp(), 'm');
    await fs.mkdir(model);
    await fs.writeFile(path.join(model, 'manifest.json'), JSON.stringify({ schemaVersion: 1, files: { 'detector.onnx': { bytes: 1, sha256: '0' } } }));
    await fs.writeFile(path.join(model, 'README.md'), 'the old model');
    for (const dir of [empty, model]) {
      const target = await openExportTarget(dir, true, run);
      await target.abandon();
      expect(await fs.readdir(path.dirname(dir))).toEqual(['m']);
    }
    // Without --force a model folder is refused as any non-empty folder is.
    await expect(openExportTarget(model, false, run)).rejects.toThrow(/is not empty .*pass --force/);
  });

  it('overlap is checked after resolving links, for an --out that does not exist yet too', async () => {
    const run = await fakeRun();
    const link = path.join(await tmp(), 'link');
    await fs.symlink(run, link);
    await expect(openExportTarget(path.join(link, 'deep', 'new'), true, run)).rejects.toThrow(/is inside the run folder/);
    const runParent = path.join(await tmp(), 'parent');
    await fs.mkdir(runParent);
    const nested = path.join(runParent, 'run');
    await fs.mkdir(nested);
    const parentLink = path.join(await tmp(), 'parent-link');
    await fs.symlink(runParent, parentLink);
    await expect(openExportTarget(parentLink, true, nested)).rejects.toThrow(/contains the run folder/);
    // A sibling whose name starts with the run's is not inside it.
    const sibling = `${run}-model`;
    const target = await openExportTarget(sibling, false, run);
    await target.abandon();
  });
});
