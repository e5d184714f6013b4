// Frames for the patch-model benchmark and tests, made at run time from Fashion-MNIST (nothing
// committed): 128×128 grey frames of a 4×4 grid of items, each 28×28 item centred in a 32×32 cell.
// Two kinds of anomalous frame share the normal frames: 'item' has one cell replaced by an item of
// the held-out class; 'defect' has a small scratch or blob drawn on one normal item. Each kind is
// written as a folder dataset (normal/, abnormal/, anomalies.json with each anomaly's box), the
// normal/ files identical in both, so the seeded split of normals is the same for both kinds.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createRng, loadIdxFolder, type IdxDataset, type Rng } from '../src/data/index.js';

export const CELL = 32;
export const GRID = 4;
export const FRAME = CELL * GRID;

export interface PatchFramesOptions {
  /** Fashion-MNIST IDX folder. */
  idxDir: string;
  /** Class index whose items are the 'item' anomaly; never in a normal frame. */
  heldOut: number;
  normalFrames: number;
  /** Abnormal frames of each kind. */
  abnormalFrames: number;
  seed: number;
  /** Folder that receives normal/, item/ and defect/ datasets. */
  out: string;
}

export interface PatchFrames {
  /** folder:<dir> specs, one per anomaly kind (same normal frames). */
  item: string;
  defect: string;
  frames: { normal: number; abnormal: number };
}

type Box = { x: number; y: number; width: number; height: number };

/** Writes item 28×28 at the centre of cell (cx, cy) of a frame. */
function putItem(frame: Uint8Array, idx: IdxDataset, item: number, cx: number, cy: number): void {
  const hw = idx.width * idx.height;
  const ox = cx * CELL + (CELL - idx.width) / 2;
  const oy = cy * CELL + (CELL - idx.height) / 2;
  for (let y = 0; y < idx.height; y++) frame.set(idx.images.subarray(item * hw + y * idx.width, item * hw + (y + 1) * idx.width), (oy + y) * FRAME + ox);
}

function normalFrame(idx: IdxDataset, normals: number[], rng: Rng): Uint8Array {
  const frame = new Uint8Array(FRAME * FRAME);
  for (let cy = 0; cy < GRID; cy++) for (let cx = 0; cx < GRID; cx++) putItem(frame, idx, normals[Math.floor(rng.next() * normals.length)]!, cx, cy);
  return frame;
}

/**
 * A scratch (a 1-pixel line 6-10 long) or a blob (a disc of radius 2) inside one cell's item area,
 * in the colour that contrasts with what lies under it. Returns its bounding box.
 */
function drawDefect(frame: Uint8Array, rng: Rng): Box {
  const cx = Math.floor(rng.next() * GRID);
  const cy = Math.floor(rng.next() * GRID);
  const x0 = cx * CELL + 8 + Math.floor(rng.next() * 16);
  const y0 = cy * CELL + 8 + Math.floor(rng.next() * 16);
  const pixels: [number, number][] = [];
  if (rng.next() < 0.5) {
    const len = 6 + Math.floor(rng.next() * 5);
    const angle = rng.next() * Math.PI;
    for (let t = 0; t < len; t++) pixels.push([Math.round(x0 + Math.cos(angle) * (t - len / 2)), Math.round(y0 + Math.sin(angle) * (t - len / 2))]);
  } else {
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) if (dx * dx + dy * dy <= 4) pixels.push([x0 + dx, y0 + dy]);
  }
  const under = pixels.reduce((s, [x, y]) => s + frame[y * FRAME + x]!, 0) / pixels.length;
  const colour = under < 128 ? 255 : 0;
  for (const [x, y] of pixels) frame[y * FRAME + x] = colour;
  const xs = pixels.map((p) => p[0]);
  const ys = pixels.map((p) => p[1]);
  const box = { x: Math.min(...xs), y: Math.min(...ys), width: Math.max(...xs) - Math.min(...xs) + 1, height: Math.max(...ys) - Math.min(...ys) + 1 };
  return box;
}

async function writePng(file: string, frame: Uint8Array): Promise<void> {
  await sharp(Buffer.from(frame), { raw: { width: FRAME, height: FRAME, channels: 1 } }).png({ compressionLevel: 1 }).toFile(file);
}

export async function makePatchFrames(o: PatchFramesOptions): Promise<PatchFrames> {
  const idx = await loadIdxFolder(o.idxDir);
  const rng = createRng(o.seed * 7919 + o.heldOut);
  const normals: number[] = [];
  const heldOut: number[] = [];
  for (let i = 0; i < idx.count; i++) (idx.labels[i] === o.heldOut ? heldOut : normals).push(i);
  const normalDir = path.join(o.out, 'normal');
  mkdirSync(normalDir, { recursive: true });
  const pad = (i: number) => String(i).padStart(5, '0');
  for (let i = 0; i < o.normalFrames; i++) await writePng(path.join(normalDir, `n${pad(i)}.png`), normalFrame(idx, normals, rng));

  const kinds = {
    item: (frame: Uint8Array): Box => {
      const cx = Math.floor(rng.next() * GRID);
      const cy = Math.floor(rng.next() * GRID);
      for (let y = 0; y < CELL; y++) frame.fill(0, (cy * CELL + y) * FRAME + cx * CELL, (cy * CELL + y) * FRAME + cx * CELL + CELL);
      putItem(frame, idx, heldOut[Math.floor(rng.next() * heldOut.length)]!, cx, cy);
      return { x: cx * CELL, y: cy * CELL, width: CELL, height: CELL };
    },
    defect: (frame: Uint8Array): Box => drawDefect(frame, rng),
  };
  const specs: Record<string, string> = {};
  for (const [kind, make] of Object.entries(kinds)) {
    const dir = path.join(o.out, kind);
    mkdirSync(path.join(dir, 'abnormal'), { recursive: true });
    symlinkSync(path.relative(dir, normalDir), path.join(dir, 'normal'));
    const boxes: Record<string, Box> = {};
    for (let i = 0; i < o.abnormalFrames; i++) {
      const frame = normalFrame(idx, normals, rng);
      const name = `abnormal/a${pad(i)}.png`;
      boxes[name] = make(frame);
      await writePng(path.join(dir, name), frame);
    }
    writeFileSync(path.join(dir, 'anomalies.json'), `${JSON.stringify(boxes)}\n`);
    specs[kind] = `folder:${dir}`;
  }
  return { item: specs.item!, defect: specs.defect!, frames: { normal: o.normalFrames, abnormal: o.abnormalFrames } };
}
