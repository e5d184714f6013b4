// loadDataset: spec → pooled images → seeded split → preprocessed NHWC sets. Pixels go through
// src/runtime/core/pixels.ts preprocessImage, the same function the runtimes use, one image at a time.
import { basename, relative } from 'node:path';
import { checkTiling, cutFrameTiles, defaultPreprocessing, preprocessImage, type FrameTiles, type RawImage } from '@ganomaly-edge/runtime';
import type { Preprocessing, SplitSizes, Tiling } from '../types.js';
import { DataError } from './errors.js';
import { decodeEach, listImageFolder } from './folder.js';
import { loadIdxFolder, type IdxDataset } from './idx.js';
import { allocateImageSet, dropSlots, frameCount, type ImageSet } from './imageSet.js';
import { tileImageSet } from './tiles.js';
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
  /**
   * Patch models: each image is a frame, cut into tiles of `tiling.tile` (= isize) after the split;
   * every set then holds tiles, grouped by frame in `set.frames`.
   */
  tiling?: Tiling;
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
  if (opts.tiling !== undefined) checkTiling(opts.tiling, isize);
  const source = resolveDataSpec(spec);
  const pre = defaultPreprocessing(isize, nc);
  const warnings: string[] = [];
  const placer = makePlacer(pre, opts.tiling);

  if (source.kind === 'idx') {
    const idx = await loadIdxFolder(source.dir, { classNames: source.classNames });
    const abnormalClassIndex = resolveClass(opts.abnormalClass, idx.classNames, spec);
    const normal: number[] = [];
    const abnormal: number[] = [];
    for (let i = 0; i < idx.count; i++) (idx.labels[i] === abnormalClassIndex ? abnormal : normal).push(i);
    if (abnormal.length === 0) warnings.push(`class ${idx.classNames[abnormalClassIndex]} has no images: the test set is all normal`);
    const split = splitPool(normal, abnormal, splitProtocol);
    const sets = allocateSets(split, isize, nc, !opts.tiling);
    fillFromIdx(idx, sets, placer, opts.onProgress);
    return finish(spec, source, placer.finish(sets), protocol, idx.classNames, abnormalClassIndex, idx.classNames[abnormalClassIndex]!, pre,
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
  let sets = allocateSets(split, isize, nc, !opts.tiling);
  sets = await fillFromFiles(files, sets, placer, opts, warnings);
  return finish(spec, source, placer.finish(sets), protocol, ['normal', 'abnormal'], null, 'abnormal', pre,
    { normal: folder.normal.length, abnormal: folder.abnormal.length }, warnings, (p) => relative(source.dir, files[p]!));
}

type Sets = { train: ImageSet; validation: ImageSet; test: ImageSet };
const SET_NAMES = ['train', 'validation', 'test'] as const;

/** Whole-image sets get their pixel buffers now; patch sets get them once the frames are cut. */
function allocateSets(split: SplitIndices, isize: number, nc: 1 | 3, withPixels: boolean): Sets {
  const set = (sources: Uint32Array, labels: Uint8Array) =>
    withPixels ? allocateImageSet(sources, labels, isize, nc) : { images: new Float32Array(0), labels, sources, count: sources.length, isize, nc };
  return {
    train: set(split.train, new Uint8Array(split.train.length)),
    validation: set(split.validation, new Uint8Array(split.validation.length)),
    test: set(split.test, split.testLabels),
  };
}

/** Where a decoded image goes: preprocessed into its set's slot, or cut into tiles kept until the sets are built. */
interface Placer {
  place(set: ImageSet, slot: number, img: RawImage): void;
  /** Frames that failed to decode are left out of patch sets here (whole-image sets drop them with dropSlots). */
  finish(sets: Sets): Sets;
  tiled: boolean;
}

function makePlacer(pre: Preprocessing, tiling: Tiling | undefined): Placer {
  const per = pre.resize.width * pre.resize.height * (pre.channelOrder === 'gray' ? 1 : 3);
  if (!tiling) {
    return { tiled: false, place: (set, slot, img) => preprocessImage(img, pre, 'HWC', set.images, slot * per), finish: (sets) => sets };
  }
  const cuts = new Map<ImageSet, (FrameTiles | undefined)[]>();
  return {
    tiled: true,
    place(set, slot, img) {
      let list = cuts.get(set);
      if (!list) cuts.set(set, (list = []));
      list[slot] = cutFrameTiles(img, tiling, pre, 'HWC');
    },
    finish: (sets) => ({
      train: tileImageSet(sets.train, cuts.get(sets.train) ?? []),
      validation: tileImageSet(sets.validation, cuts.get(sets.validation) ?? []),
      test: tileImageSet(sets.test, cuts.get(sets.test) ?? []),
    }),
  };
}

function fillFromIdx(idx: IdxDataset, sets: Sets, placer: Placer, onProgress?: LoadOptions['onProgress']): void {
  const hw = idx.height * idx.width;
  const total = SET_NAMES.reduce((a, s) => a + sets[s].count, 0);
  let done = 0;
  for (const name of SET_NAMES) {
    const set = sets[name];
    for (let slot = 0; slot < set.count; slot++) {
      const p = set.sources[slot]!;
      const img = { data: idx.images.subarray(p * hw, (p + 1) * hw), width: idx.width, height: idx.height, channels: 1 };
      placer.place(set, slot, img);
      if (++done % 1000 === 0 || done === total) onProgress?.({ kind: 'stage', stage: 'decoding', done, total });
    }
  }
}

async function fillFromFiles(files: string[], sets: Sets, placer: Placer, opts: LoadOptions, warnings: string[]): Promise<Sets> {
  const jobs: { set: ImageSet; slot: number; file: string }[] = [];
  for (const name of SET_NAMES) {
    const set = sets[name];
    for (let slot = 0; slot < set.count; slot++) jobs.push({ set, slot, file: files[set.sources[slot]!]! });
  }
  let done = 0;
  const failures = await decodeEach(
    jobs.map((j) => j.file),
    (i, img) => placer.place(jobs[i]!.set, jobs[i]!.slot, img),
    { concurrency: opts.concurrency, onDecoded: () => opts.onProgress?.({ kind: 'stage', stage: 'decoding', done: ++done, total: jobs.length }) },
  );
  if (failures.length === 0) return sets;
  const shown = failures.slice(0, 5).map((f) => `${f.file}: ${f.reason}`).join('; ');
  const more = failures.length > 5 ? `; and ${failures.length - 5} more` : '';
  if (!opts.skipUndecodable) {
    throw new DataError(`${failures.length} of ${jobs.length} images could not be decoded: ${shown}${more} (skipUndecodable / --skip-bad-images leaves them out)`);
  }
  warnings.push(`${failures.length} of ${jobs.length} images could not be decoded and were left out: ${shown}${more}`);
  if (placer.tiled) return sets; // placer.finish builds the sets without the frames that failed
  const failed = new Set(failures.map((f) => f.file));
  const out = { ...sets };
  for (const name of SET_NAMES) {
    const set = sets[name];
    const drop = new Set<number>();
    for (let slot = 0; slot < set.count; slot++) if (failed.has(files[set.sources[slot]!]!)) drop.add(slot);
    out[name] = dropSlots(set, drop);
  }
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
  // Sizes count frames for patch sets: the split is over frames, whatever their tile counts.
  const testLabels = sets.test.frames?.labels ?? sets.test.labels;
  let testAbnormal = 0;
  for (let i = 0; i < frameCount(sets.test); i++) testAbnormal += testLabels[i]!;
  if (frameCount(sets.train) === 0) throw new DataError('no decodable normal images left for training');
  const split: SplitSizes = {
    seed: protocol.seed,
    abnormalClass,
    trainNormal: frameCount(sets.train),
    validationNormal: frameCount(sets.validation),
    testNormal: frameCount(sets.test) - testAbnormal,
    testAbnormal,
  };
  return { spec, source, ...sets, split, protocol, classNames, abnormalClassIndex, preprocessing, pooled, warnings, sourceName };
}
