// `ganomaly score` in-process: table and JSON output, exit codes, heatmap files.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli-args.js';
import { run } from '../../src/cli/score.js';
import { createDetector } from '../../src/runtime/node.js';
import { makeModelFolder, testImage, type TestModel } from '../helpers/make-model.js';

let model: TestModel;
let images: string;
let files: string[];

beforeAll(async () => {
  model = await makeModelFolder();
  images = await mkdtemp(join(tmpdir(), 'ganomaly-cli-'));
  await mkdir(join(images, 'sub'));
  files = [join(images, 'a.png'), join(images, 'b.jpg'), join(images, 'sub', 'a.png')];
  for (const [i, f] of files.entries()) {
    const img = testImage(40 + i, 36, 3, 50 + i);
    const s = sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } });
    await (f.endsWith('.jpg') ? s.jpeg() : s.png()).toFile(f);
  }
  await writeFile(join(images, 'notes.txt'), 'ignored: not an image extension');
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs the command, returning its exit code and what it wrote. */
async function score(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  const spyLog = vi.spyOn(console, 'log').mockImplementation((s) => void (out += `${String(s)}\n`));
  try {
    const code = await run(argv);
    return { code, out, err };
  } finally {
    vi.restoreAllMocks();
    spyLog.mockRestore();
  }
}

describe('ganomaly score', () => {
  it('--help lists every option', async () => {
    const { code, out } = await score('--help');
    expect(code).toBe(0);
    for (const opt of ['--model', '--providers', '--threshold', '--batch-size', '--json', '--heatmap', '--side-by-side', '--heatmap-size', '--skip-integrity', '--quiet']) {
      expect(out).toContain(opt);
    }
  });

  it('prints JSON lines equal to the library results, recursing into folders, exit 0 with anomalies', async () => {
    const { code, out, err } = await score('--model', model.dir, images, '--json', '--providers', 'cpu', '--threshold', '0');
    expect(code).toBe(0);
    const rows = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.path)).toEqual(files);
    const d = await createDetector({ model: model.dir, executionProviders: ['cpu'], threshold: 0 });
    const lib = await d.score(files);
    await d.dispose();
    rows.forEach((r, i) => expect(r).toEqual({ path: files[i], score: lib[i]!.score, normalized: lib[i]!.normalized, isAnomaly: true, threshold: 0 }));
    expect(err).toMatch(/3 image\(s\): 3 anomalies, 0 error\(s\)/);
  });

  it('prints a table; an undecodable image gets an error row and exit code 1, the rest still score', async () => {
    const broken = join(images, 'sub', 'broken.png');
    await writeFile(broken, 'not a png');
    try {
      const { code, out } = await score('-m', model.dir, files[0]!, broken, files[1]!, '--providers', 'cpu', '--batch-size', '2', '-q');
      expect(code).toBe(1);
      const lines = out.trim().split('\n');
      expect(lines[0]).toMatch(/^path\s+score\s+normalized\s+verdict$/);
      expect(lines).toHaveLength(4);
      expect(lines[1]).toMatch(/a\.png\s+\S+e[-+]\d+\s+\d\.\d{4}\s+(ANOMALY|normal)$/);
      expect(lines[2]).toMatch(/broken\.png .* error: cannot decode/);
      expect(lines[3]).toMatch(/b\.jpg\s+\S+e[-+]\d+/);
    } finally {
      await rm(broken);
    }
  });

  it('writes side-by-side heatmaps (input | reconstruction | map) with unique names', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ganomaly-heat-'));
    const { code } = await score('-m', model.dir, images, '--heatmap', out, '--side-by-side', '--heatmap-size', '64', '--providers', 'cpu', '-q');
    expect(code).toBe(0);
    const names = (await readdir(out)).sort();
    expect(names).toEqual(['a.heatmap.png', 'b.heatmap.png', 'sub__a.heatmap.png']);
    const meta = await sharp(join(out, names[0]!)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 192, 64]);
    const plain = await mkdtemp(join(tmpdir(), 'ganomaly-heat-'));
    await score('-m', model.dir, files[0]!, '--heatmap', plain, '--providers', 'cpu', '-q');
    expect(await sharp(join(plain, 'a.heatmap.png')).metadata()).toMatchObject({ width: 256, height: 256 });
  });

  it('bad usage is a UsageError; a missing model is a ModelNotFoundError', async () => {
    await expect(score(files[0]!)).rejects.toBeInstanceOf(UsageError);
    await expect(score('-m', model.dir)).rejects.toBeInstanceOf(UsageError);
    await expect(score('-m', model.dir, join(images, 'nope.png'))).rejects.toThrow(/no such file/);
    await expect(score('-m', model.dir, files[0]!, '--batch-size', '0')).rejects.toThrow(/^--batch-size must be an integer from 1 to 4096 \(images\); got '0'$/);
    await expect(score('-m', join(images, 'no-model'), files[0]!)).rejects.toMatchObject({ name: 'ModelNotFoundError' });
  });
});
