// loadDataset: spec → pooled images → seeded split → preprocessed NHWC sets. Pixels go through
// src/runtime/core/pixels.ts preprocessImage, the same function the runtimes use, one image at a time.
import { basename, relative } from 'node:path';
import { defaultPreprocessing, preprocessImage } from '@ganomaly-edge/runtime';
import type { Preprocessing, SplitSizes } from '../types.js';
import { DataError } from './errors.js';
import { decodeEach, listImageFolder } from './folder.js';
import { loadIdxFolder, type IdxDataset } from './idx.js';
import { allocateImageSet, dropSlots, type ImageSet } from './imageSet.js';
import { resolveDataSpec, type DataSpec } from './spec.js';
import { splitPool, type SplitIndices, type SplitProtocol } from './split.js';
import type { StageEvent } from '../progress.js';

export interface LoadOptions {
  isize: number;
  nc: 1 | 3;
  /** IDX: class index 0..9 or its name. Folders: omit (abnormal/ is the abnormal class). */
  abnormalClass?: number | string;
  maxImages?: number;
  seed: number;
  /** Default 0.1 of the train normals. */
  validationFraction?: number;
  /** Default 0.2 of the normals. */
  testFraction?: number;
  /** Folders: leave out files that fail to decode (listed in warnings) instead of failing. */
  skipUndecodable?: boolean;
  /** Folders: images decoding at once. Default 8. */
  concurrency?: number;
  /** Decoding progress: `{ kind: 'stage', stage: 'decoding', done, total }` (the toolkit's one progress shape). */
  onProgress?: (e: StageEvent) => void;
}

export interface Dataset {
  spec: string;
  source: DataSpec;
  train: ImageSet;
  validation: ImageSet;
  test: ImageSet;
  split: SplitSizes;
  /** Everything needed to recompute this split: with the same files, the same sets come back. */
  protocol: Required<Omit<SplitProtocol, 'maxImages'>> & { maxImages: number | null };
  classNames: string[];
  /** IDX: the abnormal class's index into classNames; folders: null. */
  abnormalClassIndex: number | null;
  preprocessing: Preprocessing;
  /** Pooled images before any cap. */
  pooled: { normal: number; abnormal: number };
  warnings: string[];
  /** Human-readable origin of a pooled image (`ImageSet.sources` entries): a file path or `file[index]`. */
  sourceName(poolIndex: number): string;
}

/** Accepts an index, its decimal string, or a class name (case-insensitive). */
function resolveClass(value: number | string | undefined, classNames: readonly string[], where: string): number {
  const list = classNames.map((n, i) => (n === String(i) ? n : `${i} ${n}`)).join(', ');
  if (value === undefined) throw new DataError(`${where}: choose the abnormal class (abnormalClass / --abnormal-class): ${list}`);
  const asIndex = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (Number.isInteger(asIndex) && asIndex >= 0 && asIndex < classNames.length) return asIndex;
  if (typeof value === 'string') {
    const i = classNames.findIndex((n) => n.toLowerCase() === value.trim().toLowerCase());
    if (i >= 0) return i;
  }
  throw new DataError(`${where}: unknown abnormal class '${value}'; choose one of: ${list}`);
}

export async function loadDataset(spec: string, opts: LoadOptions): Promise<Dataset> {
  const { isize, nc, seed } = opts;
  if (!Number.isInteger(isize) || isize < 1) throw new DataError(`isize must be a positive integer; got ${isize}`);
  if (nc !== 1 && nc !== 3) throw new DataError(`nc must be 1 or 3; got ${nc}`);
  const protocol = {
    seed,
    maxImages: opts.maxImages ?? null,
    validationFraction: opts.validationFraction ?? 0.1,
    testFraction: opts.testFraction ?? 0.2,
  };
  const splitProtocol: SplitProtocol = { ...protocol, maxImages: opts.maxImages };
  const source = resolveDataSpec(spec);
  const pre = defaultPreprocessing(isize, nc);
  const warnings: string[] = [];

  if (source.kind === 'idx') {
    const idx = await loadIdxFolder(source.dir, { classNames: source.classNames });
    const abnormalClassIndex = resolveClass(opts.abnormalClass, idx.classNames, spec);
    const normal: number[] = [];
    const abnormal: number[] = [];
    for (let i = 0; i < idx.count; i++) (idx.labels[i] === abnormalClassIndex ? abnormal : normal).push(i);
    if (abnormal.length === 0) warnings.push(`class ${idx.classNames[abnormalClassIndex]} has no images: the test set is all normal`);
    const split = splitPool(normal, abnormal, splitProtocol);
    const sets = allocateSets(split, isize, nc);
    fillFromIdx(idx, sets, pre, opts.onProgress);
    return finish(spec, source, sets, protocol, idx.classNames, abnormalClassIndex, idx.classNames[abnormalClassIndex]!, pre,
      { normal: normal.length, abnormal: abnormal.length }, warnings, (p) => idxSourceName(idx, p));
  }

  if (opts.abnormalClass !== undefined && String(opts.abnormalClass) !== 'abnormal') {
    throw new DataError(`${spec}: folder datasets take abnormal images from abnormal/; omit abnormalClass (got '${opts.abnormalClass}')`);
  }
  const folder = await listImageFolder(source.dir);
  if (folder.ignored.length > 0) {
    warnings.push(`${folder.ignored.length} non-image files ignored (not .png/.jpg/.jpeg/.webp), e.g. ${folder.ignored.slice(0, 3).join(', ')}`);
  }
  if (folder.abnormal.length === 0) warnings.push(`${source.dir}: no abnormal/ images: the test set is all normal`);
  const files = [...folder.normal, ...folder.abnormal];
  const poolNormal = Array.from(folder.normal, (_, i) => i);
  const poolAbnormal = Array.from(folder.abnormal, (_, i) => folder.normal.length + i);
  const split = splitPool(poolNormal, poolAbnormal, splitProtocol);
  let sets = allocateSets(split, isize, nc);
  sets = await fillFromFiles(files, sets, pre, opts, warnings);
  return finish(spec, source, sets, protocol, ['normal', 'abnormal'], null, 'abnormal', pre,
    { normal: folder.normal.length, abnormal: folder.abnormal.length }, warnings, (p) => relative(source.dir, files[p]!));
}

type Sets = { train: ImageSet; validation: ImageSet; test: ImageSet };
const SET_NAMES = ['train', 'validation', 'test'] as const;

function allocateSets(split: SplitIndices, isize: number, nc: 1 | 3): Sets {
  return {
    train: allocateImageSet(split.train, new Uint8Array(split.train.length), isize, nc),
    validation: allocateImageSet(split.validation, new Uint8Array(split.validation.length), isize, nc),
    test: allocateImageSet(split.test, split.testLabels, isize, nc),
  };
}

function fillFromIdx(idx: IdxDataset, sets: Sets, pre: Preprocessing, onProgress?: LoadOptions['onProgress']): void {
  const hw = idx.height * idx.width;
  const per = pre.resize.width * pre.resize.height * (pre.channelOrder === 'gray' ? 1 : 3);
  const total = SET_NAMES.reduce((a, s) => a + sets[s].count, 0);
  let done = 0;
  for (const name of SET_NAMES) {
    const set = sets[name];
    for (let slot = 0; slot < set.count; slot++) {
      const p = set.sources[slot]!;
      const img = { data: idx.images.subarray(p * hw, (p + 1) * hw), width: idx.width, height: idx.height, channels: 1 };
      preprocessImage(img, pre, 'HWC', set.images, slot * per);
      if (++done % 1000 === 0 || done === total) onProgress?.({ kind: 'stage', stage: 'decoding', done, total });
    }
  }
}

async function fillFromFiles(files: string[], sets: Sets, pre: Preprocessing, opts: LoadOptions, warnings: string[]): Promise<Sets> {
  const per = pre.resize.width * pre.resize.height * (pre.channelOrder === 'gray' ? 1 : 3);
  const jobs: { set: ImageSet; slot: number; file: string }[] = [];
  for (const name of SET_NAMES) {
    const set = sets[name];
    for (let slot = 0; slot < set.count; slot++) jobs.push({ set, slot, file: files[set.sources[slot]!]! });
  }
  let done = 0;
  const failures = await decodeEach(
    jobs.map((j) => j.file),
    (i, img) => preprocessImage(img, pre, 'HWC', jobs[i]!.set.images, jobs[i]!.slot * per),
    { concurrency: opts.concurrency, onDecoded: () => opts.onProgress?.({ kind: 'stage', stage: 'decoding', done: ++done, total: jobs.length }) },
  );
  if (failures.length === 0) return sets;
  const shown = failures.slice(0, 5).map((f) => `${f.file}: ${f.reason}`).join('; ');
  const more = failures.length > 5 ? `; and ${failures.length - 5} more` : '';
  if (!opts.skipUndecodable) {
    throw new DataError(`${failures.length} of ${jobs.length} images could not be decoded: ${shown}${more} (skipUndecodable / --skip-bad-images leaves them out)`);
  }
  warnings.push(`${failures.length} of ${jobs.length} images could not be decoded and were left out: ${shown}${more}`);
  const failed = new Set(failures.map((f) => f.file));
  const out = { ...sets };
  for (const name of SET_NAMES) {
    const set = sets[name];
    const drop = new Set<number>();
    for (let slot = 0; slot < set.count; slot++) if (failed.has(files[set.sources[slot]!]!)) drop.add(slot);
    out[name] = dropSlots(set, drop);
  }
  if (out.train.count === 0) throw new DataError('no decodable normal images left for training');
  return out;
}

function idxSourceName(idx: IdxDataset, poolIndex: number): string {
  let p = poolIndex;
  for (const part of idx.parts) {
    if (p < part.count) return `${basename(part.imagesFile)}[${p}]`;
    p -= part.count;
  }
  return `#${poolIndex}`;
}

function finish(
  spec: string, source: DataSpec, sets: Sets, protocol: Dataset['protocol'], classNames: string[], abnormalClassIndex: number | null,
  abnormalClass: string, preprocessing: Preprocessing, pooled: Dataset['pooled'], warnings: string[], sourceName: (p: number) => string,
): Dataset {
  let testAbnormal = 0;
  for (let i = 0; i < sets.test.count; i++) testAbnormal += sets.test.labels[i]!;
  const split: SplitSizes = {
    seed: protocol.seed,
    abnormalClass,
    trainNormal: sets.train.count,
    validationNormal: sets.validation.count,
    testNormal: sets.test.count - testAbnormal,
    testAbnormal,
  };
  return { spec, source, ...sets, split, protocol, classNames, abnormalClassIndex, preprocessing, pooled, warnings, sourceName };
}
