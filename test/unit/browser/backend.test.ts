// selectBrowserBackend in Node: there is no navigator.gpu here, so 'auto' must fall past WebGPU to
// the wasm backend and say why it skipped WebGPU; a request it does not know is refused up front.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBrowserBackend, type BrowserBackendRequest } from '../../../src/browser/backend.js';

const gpu = (globalThis.navigator as { gpu?: unknown } | undefined)?.gpu;

describe('selectBrowserBackend', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it.skipIf(gpu !== undefined)("'auto' without navigator.gpu skips WebGPU (saying why) and starts wasm", async () => {
    const b = await selectBrowserBackend('auto');
    expect(b.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(b.skipped).toEqual([{ name: 'webgpu', why: 'this browser has no navigator.gpu' }]);
    expect(b.reason).toMatch(/WebAssembly/);
  });

  it('an explicit webgpu request without navigator.gpu is an error naming the reason, not a silent fallback', async () => {
    await expect(selectBrowserBackend('webgpu')).rejects.toThrow(/webgpu: this browser has no navigator\.gpu/);
  });

  it("'cpu' starts the cpu backend with nothing skipped", async () => {
    const b = await selectBrowserBackend('cpu');
    expect(b).toEqual({ name: 'cpu', reason: 'tfjs cpu (pure JavaScript; slow)', skipped: [] });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('an unknown request is a RangeError (a non-string a TypeError), before any backend starts', async () => {
    await tf.setBackend('cpu');
    await expect(selectBrowserBackend('metal' as BrowserBackendRequest)).rejects.toThrow(RangeError);
    await expect(selectBrowserBackend('metal' as BrowserBackendRequest)).rejects.toThrow(/one of auto, webgpu, wasm, cpu; got 'metal'/);
    await expect(selectBrowserBackend(1 as unknown as BrowserBackendRequest)).rejects.toThrow(TypeError);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('tfjsWasmPaths and its deprecated name wasmPaths with different values: TypeError', async () => {
    await expect(selectBrowserBackend('wasm', { tfjsWasmPaths: '/a/', wasmPaths: '/b/' })).rejects.toThrow(TypeError);
  });
});
