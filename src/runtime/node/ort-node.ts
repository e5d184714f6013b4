// onnxruntime-node is an optional peer of the runtime: loaded on the first session, so an app that
// lacks it gets one readable error (with the install line) instead of a crash at import time.
import { MissingDependencyError, isModuleNotFound } from '../core/errors.js';
import type { OrtModuleLike } from '../core/ort-adapter.js';

export interface OrtNodeModule extends OrtModuleLike {
  env: { logLevel?: string; versions?: Record<string, string | undefined> };
}

export const ORT_NODE_INSTALL_HINT =
  'npm install onnxruntime-node (offline, or without a GPU: add --onnxruntime-node-install=skip, ' +
  'or set ONNXRUNTIME_NODE_INSTALL=skip, so its install script does not download the CUDA provider)';

let ortModule: Promise<OrtNodeModule> | undefined;

export function loadOrtNode(): Promise<OrtNodeModule> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: unknown }).default ?? m) as OrtNodeModule,
    (e: unknown) => {
      ortModule = undefined;
      if (isModuleNotFound(e)) {
        throw new MissingDependencyError('onnxruntime-node', `onnxruntime-node is not installed; the Node runtime needs it to run models: ${ORT_NODE_INSTALL_HINT}`);
      }
      throw e;
    },
  );
  return ortModule;
}
