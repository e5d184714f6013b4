// folder:<dir> datasets: <dir>/normal/** and <dir>/abnormal/** image files. Listing is separate
// from decoding so the split (and --max-images) picks files before any pixel is decoded.
import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { DataError } from './errors.js';
import { decodeImageFile } from './decode.js';
import type { RawImage } from '@ganomaly-edge/runtime';
import { CORE_IMAGE_FORMATS, imageExtensions } from '@ganomaly-edge/runtime/node';

export const IMAGE_EXTENSIONS: readonly string[] = imageExtensions(CORE_IMAGE_FORMATS);

export interface ImageFolder {
  dir: string;
  /** Absolute paths, sorted by code unit so every machine and locale lists the same order. */
  normal: string[];
  abnormal: string[];
  /** Files under normal/ or abnormal/ that are not PNG/JPEG/WebP (by extension), relative to dir. */
  ignored: string[];
}

async function listImages(root: string, dir: string, ignored: string[]): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  for (const e of entries) {
    // Node 20 names the parent `path`; later versions `parentPath`.
    const parent = (e as unknown as { parentPath?: string }).parentPath ?? (e as unknown as { path: string }).path;
    const full = join(parent, e.name);
    // Hidden files and folders (.DS_Store, .ipynb_checkpoints/ copies) are not part of the data.
    if (relative(dir, full).split(sep).some((part) => part.startsWith('.'))) continue;
    const isFile = e.isFile() || (e.isSymbolicLink() && (await stat(full).then((s) => s.isFile(), () => false)));
    if (!isFile) continue;
    if (IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase())) files.push(full);
    else ignored.push(relative(root, full));
  }
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Lists normal/ (required, non-empty) and abnormal/ (optional: normal-only data can still train). */
export async function listImageFolder(dir: string): Promise<ImageFolder> {
  if (!(await isDir(dir))) throw new DataError(`${dir}: folder dataset not found (or not a directory)`);
  const normalDir = join(dir, 'normal');
  const abnormalDir = join(dir, 'abnormal');
  if (!(await isDir(normalDir))) {
    throw new DataError(`${dir}: a folder dataset needs a normal/ subfolder (and optionally abnormal/) holding PNG, JPEG or WebP files`);
  }
  const ignored: string[] = [];
  const normal = await listImages(dir, normalDir, ignored);
  const abnormal = (await isDir(abnormalDir)) ? await listImages(dir, abnormalDir, ignored) : [];
  if (normal.length === 0) throw new DataError(`${normalDir}: no PNG, JPEG or WebP files`);
  return { dir, normal, abnormal, ignored: ignored.sort() };
}

export interface DecodeFailure {
  file: string;
  reason: string;
}

/**
 * Decodes `files` with at most `concurrency` in flight (sharp runs on libuv's thread pool) and
 * hands each image to `sink` with its index; images are not kept. Failures are collected, not
 * thrown, so the caller can report all of them at once.
 */
export async function decodeEach(
  files: readonly string[],
  sink: (index: number, img: RawImage) => void,
  opts: { concurrency?: number; onDecoded?: () => void } = {},
): Promise<DecodeFailure[]> {
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const failures: DecodeFailure[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const file = files[i]!;
      let img: RawImage;
      try {
        img = await decodeImageFile(file);
      } catch (e) {
        failures.push({ file, reason: (e as Error).message.split('\n')[0] ?? String(e) });
        opts.onDecoded?.();
        continue;
      }
      try {
        sink(i, img);
      } catch (e) {
        failures.push({ file, reason: (e as Error).message });
      }
      opts.onDecoded?.();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return failures.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}
