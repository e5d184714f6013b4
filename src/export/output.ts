// Where an export or a quantize writes: never into the live folder. The files go into a temporary
// sibling that replaces the folder in one step once everything is written, so a failed or killed
// run leaves the previous model intact, and no file of an earlier export (an old D.onnx, a README
// describing another model) survives into a new one. A lock file beside the folder makes a second
// export or quantize into it fail at once instead of interleaving with the first.
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { DETECTOR_FILE, MANIFEST_FILE } from '@ganomaly-edge/runtime/node';
import { displayPath, MAX_LOCK_FILE_BYTES, MAX_MANIFEST_BYTES, readTextFile } from '../io/read.js';
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
      const [pidText = '', holder = 'export'] = (await readTextFile(lock, MAX_LOCK_FILE_BYTES).catch(() => '')).trim().split(/\s+/);
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

/** `p` with symbolic links resolved, also when it does not exist yet (its nearest existing ancestor is). */
async function realpathOrAbove(p: string): Promise<string> {
  const real = await fs.realpath(p).catch(() => null);
  if (real !== null) return real;
  const parent = path.dirname(p);
  return parent === p ? p : path.join(await realpathOrAbove(parent), path.basename(p));
}

const isInside = (child: string, parent: string) => child.startsWith(parent.endsWith(path.sep) ? parent : `${parent}${path.sep}`);

/**
 * The output must not overlap what the export reads: replacing the run folder, a folder inside it
 * or one that holds it would delete the checkpoints being exported (and, for a parent, anything
 * else in it). Compared after resolving symbolic links.
 */
async function checkApart(dir: string, source: string): Promise<void> {
  const [out, src] = await Promise.all([realpathOrAbove(dir), realpathOrAbove(source)]);
  const shown = `--out ${displayPath(dir)}`;
  if (out === src) throw new ExportError(`${shown} is the run folder being exported; choose another --out`);
  if (isInside(out, src)) throw new ExportError(`${shown} is inside the run folder ${displayPath(source)}; choose an --out outside it`);
  if (isInside(src, out)) throw new ExportError(`${shown} contains the run folder ${displayPath(source)}; choose an --out outside it`);
}

/**
 * Whether `dir` holds a model an export wrote: a manifest.json (a regular file) that names a
 * detector.onnx. A web app's manifest.json, or any other folder, is not one.
 */
async function holdsModel(dir: string): Promise<boolean> {
  try {
    const m = JSON.parse(await readTextFile(path.join(dir, MANIFEST_FILE), MAX_MANIFEST_BYTES)) as { files?: Record<string, unknown> } | null;
    return typeof m?.files === 'object' && m.files !== null && DETECTOR_FILE in m.files;
  } catch {
    return false;
  }
}

/**
 * Checks the output folder, takes the lock and creates an empty staging folder. The folder must
 * not exist, or be empty, or (with `force`) hold a model, which is then replaced; and it must not
 * be, contain or lie inside `source`, the run folder the export reads.
 */
export async function openExportTarget(out: string, force: boolean, source?: string): Promise<ExportTarget> {
  const dir = path.resolve(out);
  if (source !== undefined) await checkApart(dir, path.resolve(source));
  return openTarget(dir, 'export', async () => {
    const s = await fs.stat(dir).catch(() => null);
    if (s && !s.isDirectory()) throw new ExportError(`--out ${displayPath(dir)} exists and is not a folder`);
    if (!s) return;
    const entries = await fs.readdir(dir);
    if (entries.length === 0) return;
    const listed = `${entries.slice(0, 4).join(', ')}${entries.length > 4 ? ', …' : ''}`;
    if (!force) {
      throw new ExportError(`--out ${displayPath(dir)} is not empty (${listed}); pass --force to replace the model folder, or choose another --out`);
    }
    // --force deletes the whole folder: only ever one that an export wrote.
    if (!(await holdsModel(dir))) {
      throw new ExportError(`--out ${displayPath(dir)} is not a model folder (no manifest.json naming ${DETECTOR_FILE}; it holds ${listed}); --force replaces only a model folder an export wrote, so choose another --out`);
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
    await fs.cp(dir, stage, { recursive: true, mode: fsConstants.COPYFILE_FICLONE, verbatimSymlinks: true }).catch((e: unknown) => {
      // A FIFO or socket in the folder: Node's cp refuses it, naming the staged copy.
      throw new ExportError(`cannot copy ${displayPath(dir)} to update it (a model folder holds regular files only): ${(e as Error).message.split(stage).join(dir)}`);
    });
  });
}
