// The Node platform: onnxruntime-node sessions, model folders on disk (or http URLs), node:crypto.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputLimitError, ModelNotFoundError, errorMessage } from '../core/errors.js';
import { MANIFEST_FILE } from '../core/manifest.js';
import { fetchModelFiles, MAX_DETECTOR_BYTES } from '../core/model-source.js';
import { createOrtHandle } from '../core/ort-adapter.js';
import type { ModelFiles, RuntimePlatform } from '../core/platform.js';
import { decodeNodeImage } from './decode.js';
import { displayPath, readRegularFile } from './read.js';
import { loadOrtNode, type OrtNodeModule } from './ort-node.js';
import { createWorkerSession } from './worker-session.js';

export const NODE_DEFAULT_PROVIDERS = ['cuda', 'cpu'] as const;

export type OrtLogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';

export interface NodePlatformOptions {
  limitInputPixels: number;
  /** ORT's own process-wide logging, fixed when its first session is created. */
  ortLogLevel?: OrtLogLevel;
  /** Passed to every InferenceSession.create (e.g. intraOpNumThreads). */
  sessionOptions?: Record<string, unknown>;
  /**
   * Run each session in its own worker thread, so inference does not block the event loop
   * (see worker-session.ts). Default false: sessions run in the calling thread.
   */
  sessionInWorker?: boolean;
}

function folderFiles(ref: string): ModelFiles {
  const folder = resolve(ref.endsWith(MANIFEST_FILE) ? join(ref, '..') : ref);
  let checked: Promise<void> | undefined;
  const checkFolder = async () => {
    const s = await stat(folder).catch(() => null);
    if (!s) throw new ModelNotFoundError(`model folder ${displayPath(folder)} does not exist`);
    if (!s.isDirectory()) throw new ModelNotFoundError(`${displayPath(folder)} is not a folder; pass the folder that holds manifest.json`);
  };
  return {
    location: folder,
    async read(name, maxBytes = MAX_DETECTOR_BYTES) {
      await (checked ??= checkFolder());
      try {
        return await readRegularFile(join(folder, name), maxBytes, `${name} in model folder ${displayPath(folder)}`);
      } catch (e) {
        if (e instanceof InputLimitError) throw e;
        throw new ModelNotFoundError(`cannot read ${name} in model folder ${displayPath(folder)}: ${errorMessage(e)}`);
      }
    },
  };
}

/**
 * ORT logs a failed CUDA load itself, as an error line on stderr, before rejecting; the runtime
 * reports that failure in one readable line of its own. So unless the caller chose a level (or
 * already changed ORT's default 'warning'), ORT's own log is limited to fatal errors. ORT reads
 * this once per process, at its first session.
 */
function setOrtLogLevel(ort: OrtNodeModule, level: OrtLogLevel | undefined): void {
  if (level) ort.env.logLevel = level;
  else if (ort.env.logLevel === 'warning') ort.env.logLevel = 'fatal';
}

export function nodePlatform(opts: NodePlatformOptions): RuntimePlatform {
  return {
    name: 'node',
    defaultProviders: NODE_DEFAULT_PROVIDERS,
    async createSession(model, provider) {
      const ort = await loadOrtNode();
      if (opts.sessionInWorker) return createWorkerSession(model, provider, { sessionOptions: opts.sessionOptions, logLevel: opts.ortLogLevel });
      setOrtLogLevel(ort, opts.ortLogLevel);
      return createOrtHandle(ort, model, provider, opts.sessionOptions);
    },
    openModel(ref, options) {
      if (ref instanceof URL) return ref.protocol === 'file:' ? folderFiles(fileURLToPath(ref)) : fetchModelFiles(ref, undefined, options?.timeoutMs);
      if (/^https?:\/\//i.test(ref)) return fetchModelFiles(ref, undefined, options?.timeoutMs);
      if (/^file:\/\//i.test(ref)) return folderFiles(fileURLToPath(ref));
      return folderFiles(ref);
    },
    sha256: async (bytes) => createHash('sha256').update(bytes).digest('hex'),
    decodeImage: (input) => decodeNodeImage(input, opts.limitInputPixels),
  };
}
