// The main job end to end, as child processes: scripts/make-samples.ts writes test-split images
// next to a model folder, then `node scripts/demo.mjs` (on the built dist/) scores them and writes
// heatmaps and an HTML report. Needs Fashion-MNIST (CI installs dataset-fashion-mnist) and dist/
// (`npm test` builds first).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/dataset.js';
import { FASHION_MNIST_CLASSES, loadIdxFolder } from '../../src/data/idx.js';
import { resolveDataSpec } from '../../src/data/spec.js';
import { makeModelFolder, type TestModel } from '../helpers/make-model.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TRAINING = { data: 'fashion-mnist', abnormalClass: '1', seed: 3, maxImages: 400, validationFraction: 0.1 };

interface Done { code: number | null; out: string; err: string }

function node(args: string[], cwd = ROOT): Promise<Done> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

let model: TestModel;
let work: string;
let makeSamples: string;
/** The make-samples run every test below builds on. */
let samplesRun: Done;

beforeAll(async () => {
  model = await makeModelFolder();
  const manifest = { ...model.manifest, training: TRAINING };
  await writeFile(path.join(model.dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  work = await mkdtemp(path.join(tmpdir(), 'ganomaly-demo-'));
  // Bundled inside the repository so that its external packages resolve from node_modules.
  await mkdir(path.join(ROOT, '.tmp'), { recursive: true });
  makeSamples = path.join(ROOT, '.tmp', `make-samples-test-${process.pid}.mjs`);
  await build({
    entryPoints: [path.join(ROOT, 'scripts/make-samples.ts')], bundle: true, platform: 'node', format: 'esm',
    packages: 'external', outfile: makeSamples, logLevel: 'silent',
  });
  samplesRun = await node([makeSamples, model.dir, '--normal', '4', '--abnormal', '2']);
}, 90_000);

afterAll(async () => {
  await rm(makeSamples, { force: true });
  await rm(work, { recursive: true, force: true });
  await rm(model.dir, { recursive: true, force: true });
});

interface SampleEntry { file: string; label: string; class: string; source: string; poolIndex: number }

describe('make-samples', () => {
  it('writes test-split images with their original IDX pixels, named by label and class', async () => {
    const r = samplesRun;
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const dir = path.join(model.dir, 'samples');
    const pngs = (await readdir(dir)).filter((f) => f.endsWith('.png')).sort();
    const index = JSON.parse(await readFile(path.join(dir, 'samples.json'), 'utf8')) as { samples: SampleEntry[] };
    expect(index.samples.map((s) => s.file).sort()).toEqual(pngs);
    expect(pngs.filter((f) => f.startsWith('normal-'))).toHaveLength(4);
    expect(pngs.filter((f) => f.startsWith('abnormal-'))).toHaveLength(2);

    const data = await loadDataset(TRAINING.data, { isize: 32, nc: 1, ...TRAINING });
    const test = new Set(data.test.sources);
    const idx = await loadIdxFolder(resolveDataSpec('fashion-mnist').dir, { classNames: FASHION_MNIST_CLASSES });
    const normalClasses = new Set<string>();
    for (const s of index.samples) {
      expect(s.file).toMatch(new RegExp(`^${s.label}-[a-z0-9-]+-${s.poolIndex}\\.png$`));
      expect(test.has(s.poolIndex)).toBe(true);
      expect(s.class).toBe(FASHION_MNIST_CLASSES[idx.labels[s.poolIndex]!]);
      expect(s.label === 'abnormal').toBe(s.class === 'Trouser');
      if (s.label === 'normal') normalClasses.add(s.class);
      const meta = await sharp(path.join(dir, s.file)).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([28, 28, 1]);
      const px = await sharp(path.join(dir, s.file)).extractChannel(0).raw().toBuffer();
      expect(Buffer.compare(px, Buffer.from(idx.images.subarray(s.poolIndex * 784, (s.poolIndex + 1) * 784)))).toBe(0);
    }
    expect(normalClasses.size).toBe(4);
  }, 60_000);

  it('refuses a model whose manifest cannot give its split', async () => {
    const bare = await mkdtemp(path.join(work, 'bare-'));
    await writeFile(path.join(bare, 'manifest.json'), JSON.stringify({ ...model.manifest, training: {} }));
    const r = await node([makeSamples, bare]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no training\.data/);
  });
});

describe('demo', () => {
  it('scores the samples, prints the table and writes heatmaps and a report that links them', async () => {
    const out = path.join(work, 'out');
    const r = await node(['scripts/demo.mjs', '--model', model.dir, '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const pngs = (await readdir(path.join(model.dir, 'samples'))).filter((f) => f.endsWith('.png'));
    expect(pngs.length).toBe(6);
    const html = await readFile(path.join(out, 'index.html'), 'utf8');
    for (const f of pngs) {
      const line = r.out.split('\n').find((l) => l.startsWith(`${f} `));
      expect(line, f).toBeDefined();
      const expected = f.startsWith('abnormal-') ? 'anomaly' : 'normal';
      expect(line).toMatch(new RegExp(`^${f.replace(/\./g, '\\.')}\\s+${expected}\\s+\\d\\.\\d{4}e[-+]\\d+\\s+[01]\\.\\d{4}\\s+(normal|ANOMALY)`));
      const heatmap = `heatmaps/${f.replace(/\.png$/, '')}.heatmap.png`;
      expect(html).toContain(`<img src="${heatmap}"`);
      const meta = await sharp(path.join(out, heatmap)).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBe(3 * meta.height!);
    }
    const linked = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]!);
    expect(linked).toHaveLength(pngs.length);
    for (const l of linked) expect(existsSync(path.join(out, l))).toBe(true);
    expect(r.out).toContain(`report: ${path.join(out, 'index.html')}`);
  }, 60_000);

  it('says where samples come from when the model folder has none', async () => {
    const r = await node(['scripts/demo.mjs', '--model', await mkdtemp(path.join(work, 'empty-')), '--out', path.join(work, 'x')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no sample images .*make-samples/);
  });
});
