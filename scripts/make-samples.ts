// Writes a few test-split images next to an exported model (<model>/samples/), so `npm run demo`
// can score images the model has never seen: the split is recomputed from manifest.training
// (seed, maxImages, validationFraction, abnormal class), and the PNGs hold the dataset's original
// pixels, read back from the IDX files by pool index, not the resized, normalised floats.
//
// Run (offline, with what the project installs):
//   npx esbuild scripts/make-samples.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/make-samples.mjs && node .tmp/make-samples.mjs <model dir> [options]
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadIdxFolder } from '../src/data/idx.js';
import { loadDataset, type Dataset } from '../src/data/dataset.js';
import type { Manifest } from '../src/types.js';

const HELP = `Usage: make-samples <model dir> [--out <dir>] [--normal 6] [--abnormal 4] [--data <spec>]

Recomputes the model's data split from manifest.json (training.data must be an IDX dataset:
fashion-mnist, mnist or idx:<dir>) and writes test-split images as PNG, named
normal-<class>-<pool index>.png / abnormal-<class>-<pool index>.png, plus samples.json.
Normal samples come from evenly spread normal classes. Default --out: <model dir>/samples.`;

class SampleError extends Error {
  override name = 'SampleError';
}

interface Options { model: string; out: string; normal: number; abnormal: number; data?: string }

function count(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new SampleError(`--${name} must be a non-negative integer; got '${v}'`);
  return n;
}

function options(): Options | null {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, normal: { type: 'string' }, abnormal: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return null;
  if (positionals.length !== 1) throw new SampleError('give exactly one model folder (make-samples <model dir>)');
  const model = positionals[0]!;
  return {
    model,
    out: values.out ?? path.join(model, 'samples'),
    normal: count(values.normal, 'normal', 6),
    abnormal: count(values.abnormal, 'abnormal', 4),
    data: values.data,
  };
}

/** File-name form of a class name: 'T-shirt/top' → 't-shirt-top'. */
function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'class';
}

interface Pick { poolIndex: number; cls: number; abnormal: boolean }

/** The first test image of each of `n` evenly spread normal classes, then the first `nAbnormal` abnormal ones. */
function choose(ds: Dataset, labels: Uint8Array, n: number, nAbnormal: number): Pick[] {
  const firstOfClass = new Map<number, number>();
  const abnormal: Pick[] = [];
  for (let i = 0; i < ds.test.count; i++) {
    const p = ds.test.sources[i]!;
    if (ds.test.labels[i]) {
      if (abnormal.length < nAbnormal) abnormal.push({ poolIndex: p, cls: labels[p]!, abnormal: true });
    } else if (!firstOfClass.has(labels[p]!)) firstOfClass.set(labels[p]!, p);
  }
  const classes = [...firstOfClass.keys()].sort((a, b) => a - b);
  const normal: Pick[] = [];
  const take = Math.min(n, classes.length);
  for (let k = 0; k < take; k++) {
    const cls = classes[Math.floor((k * classes.length) / take)]!;
    normal.push({ poolIndex: firstOfClass.get(cls)!, cls, abnormal: false });
  }
  // Fewer normal classes than requested images: fill up with further images, in test order.
  const used = new Set(normal.map((s) => s.poolIndex));
  for (let i = 0; i < ds.test.count && normal.length < n; i++) {
    const p = ds.test.sources[i]!;
    if (!ds.test.labels[i] && !used.has(p)) normal.push({ poolIndex: p, cls: labels[p]!, abnormal: false });
  }
  return [...normal, ...abnormal];
}

async function main(): Promise<number> {
  const opts = options();
  if (!opts) {
    console.log(HELP);
    return 0;
  }
  const manifest = JSON.parse(await readFile(path.join(opts.model, 'manifest.json'), 'utf8').catch((e: Error) => {
    throw new SampleError(`cannot read ${path.join(opts.model, 'manifest.json')}: ${e.message}`);
  })) as Manifest;
  const t = manifest.training as { data?: string; abnormalClass?: string | number; seed?: number; maxImages?: number | null; validationFraction?: number };
  const spec = opts.data ?? t.data;
  if (typeof spec !== 'string' || t.seed === undefined) {
    throw new SampleError(`${opts.model}/manifest.json has no training.data / training.seed: cannot recompute its split (pass --data <spec> if only the data moved)`);
  }
  console.log(`recomputing the split of ${manifest.name}: data ${spec}, abnormal class ${t.abnormalClass}, seed ${t.seed}, maxImages ${t.maxImages ?? 'all'}`);
  const ds = await loadDataset(spec, {
    isize: manifest.model.isize, nc: manifest.model.nc, abnormalClass: t.abnormalClass,
    maxImages: t.maxImages ?? undefined, seed: t.seed, validationFraction: t.validationFraction,
  });
  if (ds.source.kind !== 'idx') {
    throw new SampleError(`${spec} is a folder dataset: copy a few of its test images into ${opts.out} instead (samples are made from IDX datasets only)`);
  }
  const split = manifest.split;
  if (split && (split.testNormal !== ds.split.testNormal || split.testAbnormal !== ds.split.testAbnormal)) {
    throw new SampleError(
      `the data no longer gives the model's split (test ${ds.split.testNormal}+${ds.split.testAbnormal}, the manifest says ${split.testNormal}+${split.testAbnormal}); point --data at the data the model was trained on`,
    );
  }
  const idx = await loadIdxFolder(ds.source.dir, { classNames: ds.source.classNames });
  const picks = choose(ds, idx.labels, opts.normal, opts.abnormal);

  await mkdir(opts.out, { recursive: true });
  // Earlier samples go, so the folder always matches samples.json.
  for (const f of await readdir(opts.out)) if (/^(normal|abnormal)-.+\.png$/.test(f) || f === 'samples.json') await rm(path.join(opts.out, f));
  const hw = idx.height * idx.width;
  const written = [];
  for (const s of picks) {
    const className = idx.classNames[s.cls]!;
    const file = `${s.abnormal ? 'abnormal' : 'normal'}-${slug(className)}-${s.poolIndex}.png`;
    const pixels = idx.images.subarray(s.poolIndex * hw, (s.poolIndex + 1) * hw);
    await sharp(Buffer.from(pixels), { raw: { width: idx.width, height: idx.height, channels: 1 } })
      .toColourspace('b-w') // sharp would otherwise write a 1-channel image as RGB
      .png()
      .toFile(path.join(opts.out, file));
    written.push({ file, label: s.abnormal ? 'abnormal' : 'normal', class: className, source: ds.sourceName(s.poolIndex), poolIndex: s.poolIndex });
    console.log(`  ${file.padEnd(36)} ${ds.sourceName(s.poolIndex)}`);
  }
  const index = {
    model: manifest.name,
    data: spec,
    split: 'test',
    protocol: ds.protocol,
    abnormalClass: ds.split.abnormalClass,
    note: 'original IDX pixels (not resized); pool index = position in the pooled train + t10k images',
    samples: written,
  };
  await writeFile(path.join(opts.out, 'samples.json'), `${JSON.stringify(index, null, 2)}\n`);
  console.log(`wrote ${written.length} test images (${picks.filter((p) => !p.abnormal).length} normal, ${picks.filter((p) => p.abnormal).length} abnormal) to ${opts.out}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`make-samples: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof SampleError || (e instanceof Error && e.name === 'DataError') ? 2 : 1);
  },
);
