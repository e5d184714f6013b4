// selectBrowserBackend in Node: there is no navigator.gpu here, so 'auto' must fall past WebGPU to
// the wasm backend and say why it skipped WebGPU; a request it does not know is refused up front.
// planWasmThreads: every case of the page's thread decision, with its reason (the pages themselves
// run in test/e2e/browser-train.test.ts).
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { planWasmThreads, selectBrowserBackend, type BrowserBackendRequest, type WasmThreadsEnvironment } from '../../../src/browser/backend.js';

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
    expect(b.reason).toMatch(/WebAssembly \(single-threaded\)/);
    // Node is no browser page: tfjs runs its single-threaded build, and the report says so.
    expect(b.threads).toBe(1);
    expect(b.threadsWhy).toMatch(/^not a browser page \(no crossOriginIsolated\).*: 1 thread$/);
  });

  it('an explicit webgpu request without navigator.gpu is an error naming the reason, not a silent fallback', async () => {
    await expect(selectBrowserBackend('webgpu')).rejects.toThrow(/webgpu: this browser has no navigator\.gpu/);
  });

  it("'cpu' starts the cpu backend with nothing skipped", async () => {
    const b = await selectBrowserBackend('cpu');
    expect(b).toEqual({ name: 'cpu', reason: 'tfjs cpu (pure JavaScript; slow)', skipped: [], threads: 1, threadsWhy: 'tfjs cpu runs on the calling thread: 1 thread' });
    expect(tf.getBackend()).toBe('cpu');
  });

  it('an unknown request is a RangeError (a non-string a TypeError), before any backend starts', async () => {
    await tf.setBackend('cpu');
    await expect(selectBrowserBackend('metal' as BrowserBackendRequest)).rejects.toThrow(RangeError);
    await expect(selectBrowserBackend('metal' as BrowserBackendRequest)).rejects.toThrow(/one of auto, webgpu, wasm, cpu; got 'metal'/);
    await expect(selectBrowserBackend(1 as unknown as BrowserBackendRequest)).rejects.toThrow(TypeError);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('wasmThreads outside 1-8 (or not an integer) is a RangeError before any backend starts; not a number, a TypeError', async () => {
    await tf.setBackend('cpu');
    for (const bad of [0, 9, 1.5, -1, Number.NaN]) {
      await expect(selectBrowserBackend('wasm', { wasmThreads: bad })).rejects.toThrow(RangeError);
      await expect(selectBrowserBackend('wasm', { wasmThreads: bad })).rejects.toThrow(/^wasmThreads must be an integer from 1 to 8 \(threads\); got /);
    }
    await expect(selectBrowserBackend('wasm', { wasmThreads: '2' as unknown as number })).rejects.toThrow(TypeError);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('tfjsWasmPaths and its deprecated name wasmPaths with different values: TypeError', async () => {
    await expect(selectBrowserBackend('wasm', { tfjsWasmPaths: '/a/', wasmPaths: '/b/' })).rejects.toThrow(TypeError);
  });
});

describe('planWasmThreads: how many threads a page trains with, and why', () => {
  const isolated: WasmThreadsEnvironment = { crossOriginIsolated: true, sharedArrayBuffer: true, wasmThreads: true, cores: 4 };
  const cases: [string, WasmThreadsEnvironment, number | undefined, number, RegExp][] = [
    ['isolated page: every core', isolated, undefined, 4, /^page cross-origin isolated: every core \(navigator\.hardwareConcurrency 4\): 4 threads$/],
    ['isolated page, 32 cores: the pool of 8', { ...isolated, cores: 32 }, undefined, 8, /: 8 threads \(tfjs's pool holds 8\)$/],
    ['isolated page, one core', { ...isolated, cores: 1 }, undefined, 1, /hardwareConcurrency 1\): 1 thread$/],
    ['isolated page, no core count', { ...isolated, cores: undefined }, undefined, 1, /hardwareConcurrency unknown\): 1 thread$/],
    ['isolated page, wasmThreads asked', isolated, 3, 3, /^wasmThreads: 3 threads$/],
    ['isolated page, wasmThreads 1', isolated, 1, 1, /^wasmThreads: 1 thread$/],
    ['page without COOP/COEP', { ...isolated, crossOriginIsolated: false, sharedArrayBuffer: false, wasmThreads: false }, undefined, 1,
      /^page not cross-origin isolated \(COOP\/COEP headers missing\): 1 thread$/],
    ['page without COOP/COEP, wasmThreads 4 asked', { ...isolated, crossOriginIsolated: false, wasmThreads: false }, 4, 1,
      /^page not cross-origin isolated \(COOP\/COEP headers missing\): 1 thread \(wasmThreads 4 not possible\)$/],
    ['isolated, but no SharedArrayBuffer', { ...isolated, sharedArrayBuffer: false, wasmThreads: false }, undefined, 1, /^no SharedArrayBuffer in this page: 1 thread$/],
    ['isolated, but no WebAssembly threads', { ...isolated, wasmThreads: false }, undefined, 1, /^this browser's WebAssembly has no threads: 1 thread$/],
    ['Node (no crossOriginIsolated)', { crossOriginIsolated: undefined, sharedArrayBuffer: true, wasmThreads: false, cores: 2 }, undefined, 1, /^not a browser page/],
  ];
  it.each(cases)('%s', (_name, env, requested, threads, why) => {
    const plan = planWasmThreads(env, requested);
    expect(plan.threads).toBe(threads);
    expect(plan.why).toMatch(why);
  });
});
