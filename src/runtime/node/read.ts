// The one way the project reads a file into memory (the runtime, the toolkit and the gateway all
// come here; test/unit/layout/readers.test.ts fails on any other read): only regular files (a
// FIFO, /dev/zero or a device is refused before a byte is read, and opening never blocks), never
// more than a cap the caller names, known from fstat before reading, and read in chunks, because
// one read of 2 GiB or more aborts Node natively (its length must be an int32).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputLimitError } from '../core/errors.js';

/**
 * The most any whole-file read takes: just under 2 GiB, which is also protobuf's (so ONNX's) own
 * limit for one message. Every per-kind cap is at most this.
 */
export const MAX_READ_BYTES = 2 ** 31 - 1;

/** Bytes asked of the OS in one read. */
export const READ_CHUNK_BYTES = 64 * 1024 * 1024;

/** A path longer than this is shortened in messages (ENAMETOOLONG on a 5000-character path). */
const DISPLAY_PATH_CHARS = 160;

/**
 * A path (or any long token) as a message shows it: unchanged up to 160 characters, else its head
 * and tail (where the file name is) around an ellipsis, with the full length.
 */
export function displayPath(p: string): string {
  if (p.length <= DISPLAY_PATH_CHARS) return p;
  return `${p.slice(0, 60)}…${p.slice(-80)} (${p.length} characters)`;
}

/** A Node file-system error with the path in its message shortened; code, errno and path kept. */
function shortened(e: unknown, path: string): unknown {
  if (e instanceof Error && path.length > DISPLAY_PATH_CHARS) e.message = e.message.split(path).join(displayPath(path));
  return e;
}

function kindOf(s: import('node:fs').Stats): string {
  if (s.isFIFO()) return 'a FIFO';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  if (s.isDirectory()) return 'a folder';
  if (s.isSocket()) return 'a socket';
  return 'a special file';
}

/**
 * Reads a regular file of at most `maxBytes` (≤ MAX_READ_BYTES; RangeError otherwise). Rejects
 * with InputLimitError (`size` set when the file is too big) for anything that is not a regular
 * file or is over the cap; other failures (ENOENT, EACCES, ENAMETOOLONG) are Node's own errors,
 * with their `code`, and a long path shortened in the message.
 */
export async function readRegularFile(path: string, maxBytes: number, what = displayPath(path)): Promise<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0 || maxBytes > MAX_READ_BYTES) {
    throw new RangeError(`maxBytes must be an integer from 0 to ${MAX_READ_BYTES}; got ${maxBytes}`);
  }
  let fh: import('node:fs/promises').FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait forever for a writer.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw shortened(e, path);
  }
  try {
    const s = await fh.stat();
    if (!s.isFile()) throw new InputLimitError(`${what} is ${kindOf(s)}, not a regular file; refusing to read it`);
    if (s.size > maxBytes) throw new InputLimitError(`${what} has ${s.size} bytes, more than the limit of ${maxBytes}`, s.size);
    // The file may grow while it is read: never take more than the size checked against the cap.
    const buf = new Uint8Array(s.size);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, Math.min(READ_CHUNK_BYTES, buf.length - n), n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n === buf.length ? buf : buf.subarray(0, n);
  } catch (e) {
    throw shortened(e, path);
  } finally {
    await fh.close();
  }
}

/** readRegularFile, decoded as UTF-8 (a byte-order mark is dropped): JSON, YAML, lock files. */
export async function readTextFile(path: string, maxBytes: number, what = displayPath(path)): Promise<string> {
  return new TextDecoder().decode(await readRegularFile(path, maxBytes, what));
}

/** True for the error a read gives when the file is not there (callers that treat that as "none yet"). */
export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
