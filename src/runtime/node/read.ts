// Bounded file reads: only regular files (a FIFO, /dev/zero or a device is refused before a byte is
// read, and opening never blocks), never more than a cap.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputLimitError } from '../core/errors.js';

/**
 * Reads a regular file of at most `maxBytes`. Rejects with InputLimitError (`size` set when the
 * file is too big) for anything else; other failures (ENOENT, EACCES) are passed on as they are.
 */
export async function readRegularFile(path: string, maxBytes: number, what = path): Promise<Uint8Array> {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait forever for a writer.
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const s = await fh.stat();
    if (!s.isFile()) {
      const kind = s.isFIFO() ? 'a FIFO' : s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : s.isDirectory() ? 'a folder' : s.isSocket() ? 'a socket' : 'not a regular file';
      throw new InputLimitError(`${what} is ${kind}, not a regular file; refusing to read it`);
    }
    if (s.size > maxBytes) throw new InputLimitError(`${what} has ${s.size} bytes, more than the limit of ${maxBytes}`, s.size);
    // The file may grow while it is read: never take more than the cap.
    const buf = new Uint8Array(s.size);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n === buf.length ? buf : buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}
