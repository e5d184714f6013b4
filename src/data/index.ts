// Dataset loading and the seeded split protocol used by training and evaluation.
export { DataError } from './errors.js';
export { createRng, deriveSeed, type Rng, type MutableList } from './rng.js';
export { parseIdx, readIdxFile, loadIdxFolder, FASHION_MNIST_CLASSES, MNIST_CLASSES, type IdxArray, type IdxDataset, type IdxPart } from './idx.js';
export { decodeImageFile } from './decode.js';
export { listImageFolder, decodeEach, IMAGE_EXTENSIONS, type ImageFolder, type DecodeFailure } from './folder.js';
export { resolveDataSpec, NAMED_DATASETS, type DataSpec, type NamedDataset } from './spec.js';
export { splitPool, capCounts, type SplitProtocol, type SplitIndices } from './split.js';
export { frameCount, type FrameIndex, type ImageSet } from './imageSet.js';
export { frameScores, tileImageSet } from './tiles.js';
export { loadDataset, type Dataset, type LoadOptions } from './dataset.js';
export { batchIterator, gatherBatch } from './batches.js';
