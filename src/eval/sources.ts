// The runtime's inputs for a split set: the very pixels training decoded, before any resizing.
// IDX rows are handed over as raw 8-bit pixels; image files as paths, so the runtime's own
// decoder (sharp, as in deployment) reads them.
import path from 'node:path';
import type { RawImage } from '@ganomaly-edge/runtime';
import { loadIdxFolder, type Dataset, type ImageSet } from '../data/index.js';

export type RuntimeInput = RawImage | string;

/** Returns a function giving the runtime input for one slot of a set loaded by loadDataset. */
export async function runtimeInputs(data: Dataset): Promise<(set: ImageSet, slot: number) => RuntimeInput> {
  const { source } = data;
  if (source.kind === 'folder') {
    return (set, slot) => path.join(source.dir, data.sourceName(set.sources[slot]!));
  }
  // loadDataset keeps only preprocessed floats, so the 8-bit rows are read again (IDX parsing is
  // fast; the pool index is the row index, as in loadDataset).
  const idx = await loadIdxFolder(source.dir, { classNames: source.classNames });
  const hw = idx.height * idx.width;
  return (set, slot) => {
    const p = set.sources[slot]!;
    return { data: idx.images.subarray(p * hw, (p + 1) * hw), width: idx.width, height: idx.height, channels: 1 };
  };
}
