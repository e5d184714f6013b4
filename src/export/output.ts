// Where an export writes: never into the live folder. The graphs and manifest go into a temporary
// sibling that replaces the folder in one step once everything is written, so a failed or killed
// export leaves the previous model intact, and no file of an earlier export (an old D.onnx, a README
// describing another model) survives into the new one. A lock file beside the folder makes a
// second export into it fail at once instead of interleaving with the first.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ExportError } from './errors.js';

export interface ExportTarget {
  /** The final folder. */
  readonly dir: string;
  /** The temporary sibling every file is written into. */
  readonly stage: string;
  /** Moves the staged folder into place (replacing the old one) and releases the lock. */
  commit(): Promise<void>;
  /** Removes the staged folder and releases the lock (after a failure). Idempotent. */
  abandon(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function takeLock(lock: string, dir: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ExportError(`cannot create the lock ${lock}: ${(e as Error).message}`);
      const pid = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new ExportError(`another export (process ${pid}) is writing ${dir}; wait for it to finish (lock file ${lock})`);
      }
      await fs.rm(lock, { force: true }); // left by an export that died: take it over
    }
  }
  throw new ExportError(`cannot take the lock ${lock}; another export keeps recreating it`);
}

/**
 * Checks the output folder (it must not exist, be empty, or `force` must be set), takes the lock
 * and creates the staging folder.
 */
export async function openExportTarget(out: string, force: boolean): Promise<ExportTarget> {
  const dir = path.resolve(out);
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  await fs.mkdir(parent, { recursive: true });
  const lock = path.join(parent, `.${base}.export-lock`);
  await takeLock(lock, dir);
  let stage = '';
  const release = () => fs.rm(lock, { force: true });
  try {
    const s = await fs.stat(dir).catch(() => null);
    if (s && !s.isDirectory()) throw new ExportError(`--out ${dir} exists and is not a folder`);
    if (s && !force) {
      const entries = await fs.readdir(dir);
      if (entries.length > 0) {
        throw new ExportError(`--out ${dir} is not empty (${entries.slice(0, 4).join(', ')}${entries.length > 4 ? ', …' : ''}); pass --force to replace the whole folder, or choose another --out`);
      }
    }
    stage = await fs.mkdtemp(path.join(parent, `.${base}.export-`));
  } catch (e) {
    await release();
    throw e;
  }
  let finished = false;
  return {
    dir,
    stage,
    async commit() {
      if (finished) return;
      finished = true;
      const old = `${stage}.old`;
      try {
        const exists = await fs.stat(dir).then(() => true, () => false);
        if (exists) await fs.rename(dir, old);
        await fs.rename(stage, dir);
        if (exists) await fs.rm(old, { recursive: true, force: true });
      } finally {
        await release();
      }
    },
    async abandon() {
      if (finished) return;
      finished = true;
      await fs.rm(stage, { recursive: true, force: true });
      await release();
    },
  };
}
