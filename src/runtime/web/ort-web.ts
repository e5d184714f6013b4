// The onnxruntime-web build a page uses, loaded once per build. Shared by the browser runtime and
// the browser export (src/browser), so a page that trains and scores loads ORT once.
import { MissingDependencyError, isModuleNotFound } from '../core/errors.js';
import type { OrtWebBuild, OrtWebModuleLike } from './platform.js';

// One dynamic import per build: a bundler gives each its own chunk, so a WASM-only page never
// downloads the WebGPU build's JS or its larger .wasm.
const builds: Partial<Record<OrtWebBuild, Promise<OrtWebModuleLike>>> = {};

export function loadOrtWeb(build: OrtWebBuild): Promise<OrtWebModuleLike> {
  const load = build === 'wasm' ? () => import('onnxruntime-web/wasm') : () => import('onnxruntime-web/webgpu');
  builds[build] ??= load().then(
    (m) => m as unknown as OrtWebModuleLike,
    (e: unknown) => {
      delete builds[build];
      if (!isModuleNotFound(e)) throw e;
      throw new MissingDependencyError('onnxruntime-web', `onnxruntime-web is not installed or could not be loaded (${String(e)}): npm install onnxruntime-web`);
    },
  );
  return builds[build];
}

