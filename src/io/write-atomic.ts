// Every file the toolkit writes (run folders, checkpoints, model folders) goes through here: a
// temporary name beside the target, renamed over it, so a crash or a full disk never leaves a
// file that looks complete but is not.
import { promises as fs } from 'node:fs';

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (e) {
    // A full disk (or any failure) must not leave a half-written temporary behind.
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw Object.assign(new Error(`no space left on the device while writing ${file}; free some space and retry (nothing was replaced)`), { code });
    }
    throw e;
  }
}
