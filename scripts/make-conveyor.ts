// Writes the gateway quick start's camera: a short "conveyor" video made from the prebuilt model's
// own data. Items of the model's test split (never trained on) arrive one by one on a dark belt,
// stop under the camera for a while, and leave; now and then the item is one of the held-out class
// (a Trouser for the prebuilt model). The video is ffv1 in .mkv (lossless, so the gateway scores
// exactly the drawn pixels), and truth.json says which frames show an anomalous item.
//
//   npx esbuild scripts/make-conveyor.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/make-conveyor.mjs && node .tmp/make-conveyor.mjs [--model <dir>] [--out <dir>]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../src/data/dataset.js';
import { loadIdxFolder } from '../src/data/idx.js';
import type { Manifest } from '../src/types.js';

const HELP = `Usage: make-conveyor [--model <model dir>] [--out <dir>] [--items 24] [--every 6] [--ffmpeg <path>]

Writes <out>/conveyor.mkv (ffv1, 5 fps, 320×240 grey) and <out>/truth.json: --items test-split items
of the model's data pass under the camera, one in every --every of them from the abnormal class.
Defaults: the model under models/, --out .tmp/conveyor.`;

class ConveyorError extends Error {
  override name = 'ConveyorError';
}

/** The frame: a 320×240 belt; the camera's region of interest is the centred 120×120 square. */
export const FRAME = { width: 320, height: 240, fps: 5 } as const;
export const ROI = { x: 100, y: 60, width: 120, height: 120 } as const;
/** Frames an item takes to slide in, rests centred, and takes to slide out. */
const SLIDE = 4;
const REST = 10;
const ITEM_SCALE = 4; // 28 px items drawn at 112 px, inside the 120 px region of interest

function int(v: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConveyorError(`--${name} must be an integer from ${min} to ${max}; got '${v}'`);
  return n;
}

/** Draws item `pixels` (h×w, grey) scaled by ITEM_SCALE with its top-left at (x0, y0), clipped to the frame. */
function draw(frame: Uint8Array, pixels: Uint8Array, w: number, h: number, x0: number, y0: number): void {
  for (let y = 0; y < h * ITEM_SCALE; y++) {
    const fy = y0 + y;
    if (fy < 0 || fy >= FRAME.height) continue;
    for (let x = 0; x < w * ITEM_SCALE; x++) {
      const fx = x0 + x;
      if (fx < 0 || fx >= FRAME.width) continue;
      const v = pixels[Math.floor(y / ITEM_SCALE) * w + Math.floor(x / ITEM_SCALE)]!;
      if (v > 0) frame[fy * FRAME.width + fx] = v;
    }
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { model: { type: 'string' }, out: { type: 'string' }, items: { type: 'string' }, every: { type: 'string' }, ffmpeg: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const model = values.model ?? 'models/fashion-mnist-trouser';
  const out = values.out ?? '.tmp/conveyor';
  const items = int(values.items, 'items', 24, 1, 10_000);
  const every = int(values.every, 'every', 6, 1, 10_000);
  const manifest = JSON.parse(await readFile(path.join(model, 'manifest.json'), 'utf8')) as Manifest;
  const t = manifest.training as { data?: string; abnormalClass?: string; seed?: number; maxImages?: number | null; validationFraction?: number };
  if (typeof t.data !== 'string' || t.seed === undefined) throw new ConveyorError(`${model}/manifest.json has no training.data / seed: cannot recompute its test split`);
  const ds = await loadDataset(t.data, {
    isize: manifest.model.isize, nc: manifest.model.nc, abnormalClass: t.abnormalClass,
    maxImages: t.maxImages ?? undefined, seed: t.seed, validationFraction: t.validationFraction,
  });
  if (ds.source.kind !== 'idx') throw new ConveyorError(`${t.data} is not an IDX dataset; the conveyor draws IDX items`);
  const idx = await loadIdxFolder(ds.source.dir, { classNames: ds.source.classNames });
  const normal: number[] = [];
  const abnormal: number[] = [];
  for (let i = 0; i < ds.test.count; i++) (ds.test.labels[i] ? abnormal : normal).push(ds.test.sources[i]!);
  if (normal.length === 0 || abnormal.length === 0) throw new ConveyorError('the test split lacks normal or abnormal items');

  await mkdir(out, { recursive: true });
  const file = path.join(out, 'conveyor.mkv');
  const ffmpeg = spawn(values.ffmpeg ?? 'ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${FRAME.width}x${FRAME.height}`, '-r', String(FRAME.fps),
    '-i', '-', '-c:v', 'ffv1', '-pix_fmt', 'gray', file,
  ], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  ffmpeg.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const failed = once(ffmpeg, 'error').then(([e]) => {
    throw new ConveyorError(`cannot run ffmpeg (${(e as Error).message}): apt-get install ffmpeg`);
  });

  const hw = idx.width * idx.height;
  const cx = ROI.x + (ROI.width - idx.width * ITEM_SCALE) / 2;
  const cy = ROI.y + (ROI.height - idx.height * ITEM_SCALE) / 2;
  const stride = (FRAME.width + idx.width * ITEM_SCALE) / 2 / SLIDE;
  const truth: { item: number; className: string; abnormal: boolean; firstFrame: number; lastFrame: number; restFirst: number; restLast: number }[] = [];
  let frameIndex = 0;
  const write = async (frame: Uint8Array) => {
    if (!ffmpeg.stdin.write(frame)) await Promise.race([once(ffmpeg.stdin, 'drain'), failed]);
    frameIndex++;
  };
  for (let k = 0; k < items; k++) {
    const isAbnormal = (k + 1) % every === 0;
    const pool = isAbnormal ? abnormal : normal;
    const p = pool[Math.floor((k * 7919) % pool.length)]!;
    const pixels = idx.images.subarray(p * hw, (p + 1) * hw);
    const first = frameIndex;
    let restFirst = 0;
    // In from the right, rest centred, out to the left: positions relative to the centre.
    const offsets = [
      ...Array.from({ length: SLIDE }, (_, i) => (SLIDE - i) * stride),
      ...Array.from({ length: REST }, () => 0),
      ...Array.from({ length: SLIDE }, (_, i) => -(i + 1) * stride),
    ];
    for (const [i, dx] of offsets.entries()) {
      if (i === SLIDE) restFirst = frameIndex;
      const frame = new Uint8Array(FRAME.width * FRAME.height);
      draw(frame, pixels, idx.width, idx.height, Math.round(cx + dx), Math.round(cy));
      await write(frame);
    }
    truth.push({
      item: k, className: idx.classNames[idx.labels[p]!]!, abnormal: isAbnormal,
      firstFrame: first, lastFrame: frameIndex - 1, restFirst, restLast: restFirst + REST - 1,
    });
  }
  ffmpeg.stdin.end();
  const [code] = (await Promise.race([once(ffmpeg, 'exit'), failed])) as [number | null];
  if (code !== 0) throw new ConveyorError(`ffmpeg failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
  await writeFile(path.join(out, 'truth.json'), `${JSON.stringify({ model: manifest.name, frame: FRAME, roi: ROI, frames: frameIndex, items: truth }, null, 2)}\n`);
  console.log(`wrote ${file}: ${frameIndex} frames (${(frameIndex / FRAME.fps).toFixed(0)} s at ${FRAME.fps} fps), ${truth.filter((x) => x.abnormal).length} of ${items} items abnormal; truth in ${path.join(out, 'truth.json')}`);
  return 0;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`make-conveyor: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
