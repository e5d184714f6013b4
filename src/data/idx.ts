// IDX files (the MNIST / Fashion-MNIST container): a 4-byte magic (0, 0, type, ndims), ndims
// big-endian uint32 sizes, then the data. Only unsigned bytes (type 0x08) occur in these datasets.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { InputLimitError } from '@ganomaly-edge/runtime/node';
import { displayPath, readRegularFile } from '../io/read.js';
import { DataError } from './errors.js';

const gunzipAsync = promisify(gunzip);

const IDX_UBYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = { 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parses an IDX buffer already in memory; `file` only names it in errors. */
export function parseIdx(buf: Uint8Array, file: string): IdxArray {
  if (buf.length < 4) throw new DataError(`${file}: not an IDX file (only ${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new DataError(`${file}: not an IDX file (magic starts 0x${hex(buf[0]!)}${hex(buf[1]!)}, expected 0x0000)`);
  }
  const type = buf[2]!;
  const ndims = buf[3]!;
  if (type !== IDX_UBYTE) {
    const what = IDX_TYPE_NAMES[type];
    throw new DataError(
      what
        ? `${file}: IDX data type ${what} is not supported; only unsigned bytes (0x08) are`
        : `${file}: not an IDX file (unknown data type 0x${hex(type)})`,
    );
  }
  if (ndims < 1) throw new DataError(`${file}: IDX header declares 0 dimensions`);
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) throw new DataError(`${file}: truncated IDX header (${buf.length} of ${headerBytes} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = buf.length - headerBytes;
  if (actual < expected) {
    throw new DataError(`${file}: truncated: header [${dims.join(', ')}] needs ${expected} data bytes, file has ${actual}`);
  }
  if (actual > expected) {
    throw new DataError(`${file}: corrupt: ${actual - expected} bytes after the ${expected} that header [${dims.join(', ')}] declares`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** Largest IDX file after decompression (the largest public IDX sets are a few hundred MB). */
export const MAX_IDX_BYTES = 2 ** 30;

/**
 * Reads an IDX file, gunzipping it when it starts with the gzip magic (whatever its name).
 * Decompression stops at `maxBytes`: a gzip bomb is refused there, not after filling memory.
 */
export async function readIdxFile(file: string, maxBytes = MAX_IDX_BYTES): Promise<IdxArray> {
  let buf: Uint8Array;
  try {
    // Compressed or not, the file itself is held to the same cap (gzip never grows IDX data much).
    buf = await readRegularFile(file, maxBytes, 'the file');
  } catch (e) {
    const reason = e instanceof InputLimitError ? e.message : (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new DataError(`${displayPath(file)}: cannot read (${reason})`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = await gunzipAsync(buf, { maxOutputLength: maxBytes });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new DataError(`${file}: decompresses to more than ${maxBytes} bytes; refusing it (a gzip bomb, or not an IDX file)`);
      }
      throw new DataError(`${file}: gzip data is corrupt or truncated (${(e as Error).message})`);
    }
  }
  return parseIdx(buf, file);
}

export interface IdxPart {
  /** 'train' or 't10k'. */
  split: string;
  imagesFile: string;
  labelsFile: string;
  count: number;
}

export interface IdxDataset {
  dir: string;
  /** count × height × width grey pixels, the parts concatenated in `parts` order. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  classNames: string[];
  parts: IdxPart[];
}

function candidates(split: string, kind: 'images' | 'labels'): string[] {
  const idx = kind === 'images' ? 'idx3' : 'idx1';
  // Uncompressed first: when both exist it is the cheaper read.
  const names = [`${split}-${kind}-${idx}-ubyte`, `${split}-${kind}.${idx}-ubyte`];
  return [...names, ...names.map((n) => `${n}.gz`)];
}

/**
 * Loads and pools every train/t10k image+label pair in `dir`. Labels index `classNames`
 * (default: '0'..'max label').
 */
export async function loadIdxFolder(dir: string, opts: { classNames?: readonly string[] } = {}): Promise<IdxDataset> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    throw new DataError(`${dir}: cannot list IDX folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const present = new Set(entries);
  const found: { split: string; imagesFile: string; labelsFile: string }[] = [];
  for (const split of ['train', 't10k']) {
    const img = candidates(split, 'images').find((n) => present.has(n));
    const lab = candidates(split, 'labels').find((n) => present.has(n));
    if (img && !lab) throw new DataError(`${join(dir, img)} has no labels file beside it (looked for ${candidates(split, 'labels').join(', ')})`);
    if (lab && !img) throw new DataError(`${join(dir, lab)} has no images file beside it (looked for ${candidates(split, 'images').join(', ')})`);
    if (img && lab) found.push({ split, imagesFile: join(dir, img), labelsFile: join(dir, lab) });
  }
  if (found.length === 0) {
    throw new DataError(
      `${dir}: no IDX files found; expected train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] and/or the t10k-… pair (or the train-images.idx3-ubyte naming)`,
    );
  }

  const loaded: { part: IdxPart; images: IdxArray; labels: IdxArray }[] = [];
  for (const f of found) {
    const [images, labels] = await Promise.all([readIdxFile(f.imagesFile), readIdxFile(f.labelsFile)]);
    if (images.dims.length !== 3) throw new DataError(`${f.imagesFile}: images must be 3-D [count, rows, cols]; got [${images.dims.join(', ')}]`);
    if (labels.dims.length !== 1) throw new DataError(`${f.labelsFile}: labels must be 1-D [count]; got [${labels.dims.join(', ')}]`);
    const [n, rows, cols] = images.dims as [number, number, number];
    if (rows < 1 || cols < 1) throw new DataError(`${f.imagesFile}: image size ${rows}x${cols} is empty`);
    if (labels.dims[0] !== n) throw new DataError(`${f.labelsFile}: ${labels.dims[0]} labels for ${n} images in ${f.imagesFile}`);
    loaded.push({ part: { ...f, count: n }, images, labels });
  }
  const [h, w] = loaded[0]!.images.dims.slice(1) as [number, number];
  for (const l of loaded) {
    const [, rows, cols] = l.images.dims;
    if (rows !== h || cols !== w) throw new DataError(`${l.part.imagesFile}: images are ${rows}x${cols} but ${loaded[0]!.part.imagesFile} has ${h}x${w}`);
  }

  const count = loaded.reduce((a, l) => a + l.part.count, 0);
  // One part (the common case for a single file) needs no copy.
  const images = loaded.length === 1 ? loaded[0]!.images.data : new Uint8Array(count * h * w);
  const labels = loaded.length === 1 ? loaded[0]!.labels.data : new Uint8Array(count);
  if (loaded.length > 1) {
    let at = 0;
    for (const l of loaded) {
      images.set(l.images.data, at * h * w);
      labels.set(l.labels.data, at);
      at += l.part.count;
    }
  }

  let maxLabel = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]! > maxLabel) maxLabel = labels[i]!;
  let classNames: string[];
  if (opts.classNames) {
    classNames = [...opts.classNames];
    if (maxLabel >= classNames.length) {
      const part = loaded.find((l) => l.labels.data.some((v) => v >= classNames.length))!;
      throw new DataError(`${part.part.labelsFile}: label ${maxLabel} out of range; this dataset has ${classNames.length} classes (0..${classNames.length - 1})`);
    }
  } else {
    classNames = Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  }
  return { dir, images, labels, count, height: h, width: w, classNames, parts: loaded.map((l) => l.part) };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
