// How often a patch model's worst tile is where the anomaly is. Folder datasets may say where each
// abnormal image's anomaly lies in <dir>/anomalies.json: { "abnormal/x.png": { x, y, width, height } }
// (paths relative to the dataset folder, boxes in the image's pixels). A frame counts as localised
// when the centre of its anomaly's box lies inside the worst tile.
import path from 'node:path';
import type { TileBox } from '@ganomaly-edge/runtime';
import { isNotFound, readTextFile } from '../io/read.js';
import { EvalError } from './errors.js';

export const ANOMALIES_FILE = 'anomalies.json';
/** anomalies.json is a list of boxes: a few MB is already hundreds of thousands of them. */
const MAX_ANOMALIES_BYTES = 16 * 2 ** 20;

export interface Localisation {
  /** Abnormal test frames with a known anomaly box. */
  frames: number;
  /** Of those, frames whose worst tile holds the box's centre. */
  hits: number;
  share: number;
}

/** Reads <dir>/anomalies.json; an empty map when there is none. */
export async function readAnomalyBoxes(dir: string): Promise<Map<string, TileBox>> {
  const file = path.join(dir, ANOMALIES_FILE);
  let text: string;
  try {
    text = await readTextFile(file, MAX_ANOMALIES_BYTES, ANOMALIES_FILE);
  } catch (e) {
    if (isNotFound(e)) return new Map();
    throw new EvalError(`${file} must be a regular JSON file of at most ${MAX_ANOMALIES_BYTES} bytes (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new EvalError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new EvalError(`${file} must map image paths to { x, y, width, height }`);
  const boxes = new Map<string, TileBox>();
  for (const [name, b] of Object.entries(raw)) {
    const o = b as Record<string, unknown> | null;
    const ok = typeof o === 'object' && o !== null && ['x', 'y', 'width', 'height'].every((k) => Number.isFinite(o[k]) && (o[k] as number) >= 0);
    if (!ok) throw new EvalError(`${file}: the box of '${name}' must be { x, y, width, height } of non-negative numbers`);
    boxes.set(path.normalize(name), { x: o.x as number, y: o.y as number, width: o.width as number, height: o.height as number });
  }
  return boxes;
}

/** Share of abnormal frames with a known box whose worst tile holds the box's centre; null when none has a box. */
export function localisation(
  worst: readonly (TileBox | undefined)[], labels: ArrayLike<number>, sources: readonly string[], boxes: ReadonlyMap<string, TileBox>,
): Localisation | null {
  let frames = 0;
  let hits = 0;
  worst.forEach((w, i) => {
    const truth = labels[i] === 1 ? boxes.get(path.normalize(sources[i]!)) : undefined;
    if (!truth || !w) return;
    frames++;
    if (holdsCentre(w, truth)) hits++;
  });
  return frames === 0 ? null : { frames, hits, share: hits / frames };
}

/** True when `tile` contains the centre of `truth` (the localisation rule). */
export function holdsCentre(tile: TileBox, truth: TileBox): boolean {
  const cx = truth.x + truth.width / 2;
  const cy = truth.y + truth.height / 2;
  return cx >= tile.x && cx < tile.x + tile.width && cy >= tile.y && cy < tile.y + tile.height;
}
