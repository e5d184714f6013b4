// Where an export or a quantize writes: never into the live folder. The files go into a temporary
// sibling that replaces the folder in one step once everything is written, so a failed or killed
// run leaves the previous model intact, and no file of an earlier export (an old D.onnx, a README
// describing another model) survives into a new one. A lock file beside the folder makes a second
// export or quantize into it fail at once instead of interleaving with the first.
import { constants as fsConstants, promises as fs } from 'node:fs';
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

/** What holds a lock, named in the message a second writer gets. */
export type TargetOperation = 'export' | 'quantize';

async function takeLock(lock: string, dir: string, op: TargetOperation): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lock, `${process.pid} ${op}\n`, { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new ExportError(`cannot create the lock ${lock}: ${(e as Error).message}`);
      // Locks written before they named their operation hold only the pid, and only exports wrote them.
      const [pidText = '', holder = 'export'] = (await fs.readFile(lock, 'utf8').catch(() => '')).trim().split(/\s+/);
      const pid = Number(pidText);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new ExportError(`another ${holder} (process ${pid}) is writing ${dir}; wait for it to finish (lock file ${lock})`);
      }
      await fs.rm(lock, { force: true }); // left by a run that died: take it over
    }
  }
  throw new ExportError(`cannot take the lock ${lock}; another export or quantize keeps recreating it`);
}

/**
 * Takes the lock beside `dir`, runs `prepare` (checks on the folder, filling the stage), and hands
 * back the staged target; the lock is released if any of it fails.
 */
async function openTarget(dir: string, op: TargetOperation, prepare: (stage: string) => Promise<void>): Promise<ExportTarget> {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  await fs.mkdir(parent, { recursive: true });
  const lock = path.join(parent, `.${base}.export-lock`);
  await takeLock(lock, dir, op);
  let stage = '';
  const release = () => fs.rm(lock, { force: true });
  try {
    stage = await fs.mkdtemp(path.join(parent, `.${base}.export-`));
    await prepare(stage);
  } catch (e) {
    if (stage) await fs.rm(stage, { recursive: true, force: true });
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

/**
 * Checks the output folder (it must not exist, be empty, or `force` must be set), takes the lock
 * and creates an empty staging folder.
 */
export async function openExportTarget(out: string, force: boolean): Promise<ExportTarget> {
  const dir = path.resolve(out);
  return openTarget(dir, 'export', async () => {
    const s = await fs.stat(dir).catch(() => null);
    if (s && !s.isDirectory()) throw new ExportError(`--out ${dir} exists and is not a folder`);
    if (s && !force) {
      const entries = await fs.readdir(dir);
      if (entries.length > 0) {
        throw new ExportError(`--out ${dir} is not empty (${entries.slice(0, 4).join(', ')}${entries.length > 4 ? ', …' : ''}); pass --force to replace the whole folder, or choose another --out`);
      }
    }
  });
}

/**
 * For changing a model folder that exists (quantize): takes the same lock as an export and stages
 * a copy of the folder's files, so the changes land in one swap and a failed or killed run leaves
 * the folder as it was.
 */
export async function openUpdateTarget(modelDir: string): Promise<ExportTarget> {
  const dir = path.resolve(modelDir);
  return openTarget(dir, 'quantize', async (stage) => {
    const s = await fs.stat(dir).catch(() => null);
    if (!s) throw new ExportError(`${dir} does not exist; pass the folder \`ganomaly export\` wrote`);
    if (!s.isDirectory()) throw new ExportError(`${dir} is not a folder; pass the folder \`ganomaly export\` wrote`);
    // A reflink where the filesystem has them: a model folder can be large.
    await fs.cp(dir, stage, { recursive: true, mode: fsConstants.COPYFILE_FICLONE, verbatimSymlinks: true });
  });
}
