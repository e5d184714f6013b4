// The onnxruntime-web build a page uses, loaded once per build. Shared by the browser runtime and
// the browser export (src/browser), so a page that trains and scores loads ORT once.
import { type GanomalyError, MissingDependencyError, UnresolvedModuleError, moduleNotFoundKind } from '../core/errors.js';
import type { OrtWebBuild, OrtWebModuleLike } from './platform.js';

/** The specifier each build is imported by, and the file of the onnxruntime-web package it names. */
export const ORT_WEB_SPECIFIERS: Record<OrtWebBuild, { specifier: string; file: string }> = {
  wasm: { specifier: 'onnxruntime-web/wasm', file: 'dist/ort.wasm.bundle.min.mjs' },
  webgpu: { specifier: 'onnxruntime-web/webgpu', file: 'dist/ort.webgpu.bundle.min.mjs' },
};

/**
 * The typed error for a failed import of one ORT build, or undefined when the failure is not about
 * finding the module (then the original error says more). Installed-but-unmapped and not installed
 * get different advice: reinstalling never fixes an import map.
 */
export function ortWebImportError(build: OrtWebBuild, e: unknown): GanomalyError | undefined {
  const { specifier, file } = ORT_WEB_SPECIFIERS[build];
  // Node appends a require stack; the first line is the resolver's answer.
  const cause = String(e).split('\n')[0];
  switch (moduleNotFoundKind(e)) {
    case 'not-installed':
      return new MissingDependencyError('onnxruntime-web', `onnxruntime-web is not installed (${cause}): npm install onnxruntime-web`);
    case 'unresolved':
      return new UnresolvedModuleError(
        'onnxruntime-web',
        specifier,
        `'${specifier}' could not be resolved (${cause}). onnxruntime-web may well be installed, but nothing maps this specifier: ` +
          `on a page without a bundler, add "${specifier}" to the import map (the URL of onnxruntime-web's ${file}, served with its .wasm next to it); ` +
          `with a bundler, let it resolve "${specifier}" (no alias that drops it).`,
      );
    default:
      return undefined;
  }
}

/**
 * A module that loaded but is not ORT: a bundler alias to `false` or to an empty module resolves
 * the import without error, and would otherwise fail later as "reading 'create' of undefined".
 */
function checkOrtModule(build: OrtWebBuild, m: unknown): OrtWebModuleLike {
  const session = (m as { InferenceSession?: { create?: unknown } } | null)?.InferenceSession;
  if (typeof session?.create === 'function') return m as OrtWebModuleLike;
  const { specifier } = ORT_WEB_SPECIFIERS[build];
  throw new UnresolvedModuleError(
    'onnxruntime-web',
    specifier,
    `'${specifier}' resolved to a module without ONNX Runtime's InferenceSession (a bundler alias to false or to an empty module?): ` +
      `map it to onnxruntime-web, or ask only for providers its other build serves (${build === 'webgpu' ? "['wasm']" : "['webgpu', 'wasm']"}).`,
  );
}

// One dynamic import per build: a bundler gives each its own chunk, so a WASM-only page never
// downloads the WebGPU build's JS or its larger .wasm.
const builds: Partial<Record<OrtWebBuild, Promise<OrtWebModuleLike>>> = {};

export function loadOrtWeb(build: OrtWebBuild): Promise<OrtWebModuleLike> {
  const load = build === 'wasm' ? () => import('onnxruntime-web/wasm') : () => import('onnxruntime-web/webgpu');
  builds[build] ??= load()
    .then(
      (m) => checkOrtModule(build, m),
      (e: unknown) => {
        throw ortWebImportError(build, e) ?? e;
      },
    )
    .catch((e: unknown) => {
      // Not cached: the page may fix its mapping, or install, and try again.
      delete builds[build];
      throw e;
    });
  return builds[build];
}
