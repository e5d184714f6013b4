// The browser entry must not drag Node or training code into a web app's bundle.
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const FORBIDDEN = /@tensorflow|(^|\/)sharp(\/|$)|onnxruntime-node|^node:|(^|\/)src\/(train|export)\//;

async function bundle(external: string[]) {
  const result = await build({
    entryPoints: ['src/runtime/web.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    external,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  // Imports esbuild left external also show up as imports of the inputs.
  const imports = Object.values(result.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
  return { bytes: result.outputFiles[0]!.contents.length, inputs, imports };
}

describe('browser bundle of src/runtime/web.ts', () => {
  it('with onnxruntime-web external: only runtime, type and option-range sources', async () => {
    const b = await bundle(['onnxruntime-web', 'onnxruntime-web/*']);
    console.log(`web runtime bundle (minified, onnxruntime-web external): ${(b.bytes / 1024).toFixed(1)} KiB from ${b.inputs.length} files`);
    expect(b.inputs.filter((p) => FORBIDDEN.test(p))).toEqual([]);
    expect(b.imports.filter((p) => FORBIDDEN.test(p))).toEqual([]);
    // src/option-ranges.ts: the one table of numeric ranges (maxBatch, decodeConcurrency, threshold), data without imports.
    expect(b.inputs.every((p) => p.startsWith('src/runtime/') || p === 'src/types.ts' || p === 'src/option-ranges.ts')).toBe(true);
    expect(b.imports).toContain('onnxruntime-web/webgpu');
    expect(b.imports).toContain('onnxruntime-web/wasm');
  });

  it('with onnxruntime-web included: still no Node, tfjs or sharp code', async () => {
    const b = await bundle([]);
    console.log(`web runtime bundle (minified, onnxruntime-web/webgpu included; .wasm served separately): ${(b.bytes / 1024).toFixed(1)} KiB`);
    expect(b.inputs.some((p) => p.includes('node_modules/onnxruntime-web/'))).toBe(true);
    expect(b.inputs.filter((p) => FORBIDDEN.test(p))).toEqual([]);
    expect(b.imports.filter((p) => FORBIDDEN.test(p))).toEqual([]);
  });
});
