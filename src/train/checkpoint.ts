// Run-folder checkpoints: one binary blob of float32 tensors plus a JSON index, each written to a
// temporary name and renamed, so a crash never leaves a checkpoint that looks complete but is not.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { displayPath, isNotFound, MAX_CHECKPOINT_BYTES, MAX_RUN_JSON_BYTES, readRegularFile, readTextFile } from '../io/read.js';
import { writeFileAtomic } from '../io/write-atomic.js';
import type { NamedTensor } from '../types.js';
import { GanomalyError, InputLimitError } from '@ganomaly-edge/runtime';

export class CheckpointError extends GanomalyError {
  override name = 'CheckpointError';
  readonly code = 'checkpoint_invalid';
}

export const CHECKPOINT_INDEX = 'checkpoint.json';
export const CHECKPOINT_FORMAT = 1;

export interface CheckpointIndex<S> {
  format: number;
  /** Binary file name inside the run folder. */
  blob: string;
  sha256: string;
  bytes: number;
  tensors: { name: string; shape: number[]; offset: number; length: number }[];
  state: S;
}

/** Writes tensors + state; the index is renamed into place last, after the blob it points to exists. */
export async function saveCheckpoint<S>(dir: string, tag: string, tensors: Record<string, NamedTensor>, state: S): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const entries = Object.entries(tensors);
  const total = entries.reduce((n, [, t]) => n + t.data.length, 0);
  // A blob the loader would refuse is not written: the run stops here, not at its next resume or export.
  if (total * 4 > MAX_CHECKPOINT_BYTES) {
    throw new CheckpointError(`the checkpoint would have ${total * 4} bytes, more than the ${MAX_CHECKPOINT_BYTES} one file may hold; use a smaller model (ngf, ndf, nz, isize)`);
  }
  const blob = new Float32Array(total);
  const index: CheckpointIndex<S>['tensors'] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    blob.set(t.data, offset);
    index.push({ name, shape: t.shape, offset, length: t.data.length });
    offset += t.data.length;
  }
  const bytes = new Uint8Array(blob.buffer);
  const blobName = `checkpoint-${tag}.bin`;
  await writeFileAtomic(path.join(dir, blobName), bytes);
  const meta: CheckpointIndex<S> = {
    format: CHECKPOINT_FORMAT,
    blob: blobName,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    tensors: index,
    state,
  };
  const indexPath = path.join(dir, CHECKPOINT_INDEX);
  let previous: string | undefined;
  try {
    previous = (JSON.parse(await readTextFile(indexPath, MAX_RUN_JSON_BYTES)) as CheckpointIndex<S>).blob;
  } catch { /* first checkpoint */ }
  await writeFileAtomic(indexPath, JSON.stringify(meta, null, 1));
  if (previous && previous !== blobName) await fs.rm(path.join(dir, previous), { force: true });
}

export async function hasCheckpoint(dir: string): Promise<boolean> {
  return fs.access(path.join(dir, CHECKPOINT_INDEX)).then(() => true, () => false);
}

/** Loads and verifies a checkpoint; every inconsistency is a CheckpointError naming the file. */
export async function loadCheckpoint<S>(dir: string): Promise<{ tensors: Record<string, NamedTensor>; state: S }> {
  const indexPath = path.join(dir, CHECKPOINT_INDEX);
  let raw: string;
  try {
    raw = await readTextFile(indexPath, MAX_RUN_JSON_BYTES, CHECKPOINT_INDEX);
  } catch (e) {
    if (isNotFound(e)) throw new CheckpointError(`no checkpoint in ${displayPath(dir)} (missing ${CHECKPOINT_INDEX}); is this a run folder written by 'ganomaly train'?`);
    throw new CheckpointError(`cannot read ${displayPath(indexPath)}: ${(e as Error).message}`);
  }
  let meta: CheckpointIndex<S>;
  try {
    meta = JSON.parse(raw) as CheckpointIndex<S>;
  } catch (e) {
    throw new CheckpointError(`${indexPath} is not valid JSON (${(e as Error).message})`);
  }
  if (meta.format !== CHECKPOINT_FORMAT || typeof meta.blob !== 'string' || !Array.isArray(meta.tensors)) {
    throw new CheckpointError(`${indexPath} is not a checkpoint index of format ${CHECKPOINT_FORMAT}`);
  }
  const blobPath = path.join(dir, path.basename(meta.blob));
  let bytes: Uint8Array;
  try {
    // Capped at the size the index gives: a bigger blob is refused before it is read.
    const cap = Number.isSafeInteger(meta.bytes) && meta.bytes >= 0 ? Math.min(meta.bytes, MAX_CHECKPOINT_BYTES) : MAX_CHECKPOINT_BYTES;
    bytes = await readRegularFile(blobPath, cap, path.basename(blobPath));
  } catch (e) {
    if (isNotFound(e)) throw new CheckpointError(`checkpoint blob ${displayPath(blobPath)} is missing`);
    if (e instanceof InputLimitError && e.size !== undefined && e.size !== meta.bytes) {
      throw new CheckpointError(`checkpoint blob ${displayPath(blobPath)} has ${e.size} bytes, expected ${meta.bytes} (replaced?)`);
    }
    throw new CheckpointError(`cannot read checkpoint blob ${displayPath(blobPath)}: ${(e as Error).message}`);
  }
  if (bytes.length !== meta.bytes) {
    throw new CheckpointError(`checkpoint blob ${blobPath} has ${bytes.length} bytes, expected ${meta.bytes} (truncated?)`);
  }
  if (createHash('sha256').update(bytes).digest('hex') !== meta.sha256) {
    throw new CheckpointError(`checkpoint blob ${blobPath} does not match its sha256 (corrupt)`);
  }
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const tensors: Record<string, NamedTensor> = {};
  for (const t of meta.tensors) {
    if (t.offset + t.length > floats.length || t.shape.reduce((a, b) => a * b, 1) !== t.length) {
      throw new CheckpointError(`checkpoint tensor '${t.name}' is inconsistent with its blob`);
    }
    tensors[t.name] = { shape: t.shape, data: floats.slice(t.offset, t.offset + t.length) };
  }
  return { tensors, state: meta.state };
}
