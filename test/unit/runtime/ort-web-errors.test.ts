// A failed import of onnxruntime-web says which of two things is wrong: the package is not
// installed (install it), or it is installed and the specifier the runtime imports has no mapping
// (an import map or a bundler alias to fix). The Chromium wording is also produced by a real page
// in test/e2e/runtime-bundlers.test.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { GanomalyError, MissingDependencyError, UnresolvedModuleError, isModuleNotFound, moduleNotFoundKind } from '../../../src/runtime/core/errors.js';
import { ORT_WEB_SPECIFIERS, ortWebImportError } from '../../../src/runtime/web/ort-web.js';

const require = createRequire(import.meta.url);

// Held in variables: vitest's transform would otherwise fail the file on the literal, at load.
const NOT_A_PACKAGE = 'onnxruntime-web-not-a-package';
const NOT_A_SUBPATH = 'onnxruntime-web/no-such-build';

/** The error a real resolver throws. */
async function failure(resolve: () => unknown): Promise<unknown> {
  try {
    await resolve();
  } catch (e) {
    return e;
  }
  throw new Error('expected the resolution to fail');
}

// What each browser engine throws for `import('onnxruntime-web/wasm')` on a page whose import map
// lacks the specifier (Chromium 156 here; Firefox and Safari as their engines word it).
const BROWSER_UNMAPPED = {
  chromium: new TypeError("Failed to resolve module specifier 'onnxruntime-web/wasm'"),
  firefox: new TypeError('The specifier “onnxruntime-web/wasm” was a bare specifier, but was not remapped to anything. Relative module specifiers must start with “./”, “../” or “/”.'),
  safari: new TypeError("Module name, 'onnxruntime-web/wasm' does not resolve to a valid URL."),
};

describe('onnxruntime-web import failures', () => {
  it('a package that is not there: MissingDependencyError, "not installed", npm install', async () => {
    const errors = [
      // Node's ESM resolver (through vitest's module runner) and its CommonJS one.
      await failure(() => import(/* @vite-ignore */ NOT_A_PACKAGE)),
      await failure(() => require.resolve(NOT_A_PACKAGE)),
    ];
    for (const e of errors) {
      expect(moduleNotFoundKind(e), String(e)).toBe('not-installed');
      expect(isModuleNotFound(e)).toBe(true);
      const err = ortWebImportError('wasm', e);
      expect(err).toBeInstanceOf(MissingDependencyError);
      expect(err).toBeInstanceOf(GanomalyError);
      expect(err).toMatchObject({ code: 'missing_dependency', packageName: 'onnxruntime-web' });
      expect(err!.message).toMatch(/^onnxruntime-web is not installed .*: npm install onnxruntime-web$/);
    }
  });

  it('an installed package whose specifier has no mapping: UnresolvedModuleError naming the specifier to map', async () => {
    const errors = [
      ...Object.values(BROWSER_UNMAPPED),
      // onnxruntime-web is installed here; a subpath its exports lack (Node's and Vite's resolvers).
      await failure(() => require.resolve(NOT_A_SUBPATH)),
      await failure(() => import(/* @vite-ignore */ NOT_A_SUBPATH)),
    ];
    for (const build of ['wasm', 'webgpu'] as const) {
      const { specifier, file } = ORT_WEB_SPECIFIERS[build];
      for (const e of errors) {
        expect(moduleNotFoundKind(e), String(e)).toBe('unresolved');
        // The Node entry's "not installed" checks (onnxruntime-node, sharp) do not take these for absence.
        expect(isModuleNotFound(e)).toBe(false);
        const err = ortWebImportError(build, e);
        expect(err).toBeInstanceOf(UnresolvedModuleError);
        expect(err).toBeInstanceOf(GanomalyError);
        expect(err).not.toBeInstanceOf(MissingDependencyError);
        expect(err).toMatchObject({ code: 'module_unresolved', packageName: 'onnxruntime-web', specifier });
        expect(err!.message).not.toMatch(/not installed/);
        expect(err!.message).toContain(`'${specifier}' could not be resolved`);
        expect(err!.message).toContain(`add "${specifier}" to the import map`);
        expect(err!.message).toContain(file);
      }
    }
  });

  it('the file each message names is what onnxruntime-web exports under the specifier', () => {
    const exportsMap = (JSON.parse(readFileSync(new URL('../../../node_modules/onnxruntime-web/package.json', import.meta.url), 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
    for (const { specifier, file } of Object.values(ORT_WEB_SPECIFIERS)) {
      expect(exportsMap[specifier.replace(/^onnxruntime-web/, '.')]!.import.default).toBe(`./${file}`);
    }
  });

  it('any other failure is not about the module being found, and is passed on as is', () => {
    const other = [new SyntaxError("Unexpected token '<'"), new TypeError('Failed to fetch dynamically imported module: http://127.0.0.1/x.mjs')];
    for (const e of other) {
      expect(moduleNotFoundKind(e)).toBeNull();
      expect(ortWebImportError('wasm', e)).toBeUndefined();
    }
  });
});
