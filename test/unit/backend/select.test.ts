// Backend selection on the machine the tests run on, and the software-adapter check on the
// adapter descriptions real WebGPU implementations report.
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BackendError, selectBackend, type BackendRequest } from '../../../src/backend/index.js';
import { probeNodeWebGpu, softwareAdapterReason } from '../../../src/backend/webgpu-adapter.js';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const hasTfNode = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');
// Probed once, at collection time, so each case either runs or is reported as skipped.
const webgpuProbe = await probeNodeWebGpu();

describe('selectBackend', () => {
  it.runIf(hasTfNode || webgpuProbe.ok)('auto picks tensorflow or webgpu when one is available here', async () => {
    const sel = await selectBackend('auto');
    expect(['tensorflow', 'webgpu']).toContain(sel.name); // a faster backend exists here
  });

  it.skipIf(hasTfNode || webgpuProbe.ok)('auto walks tensorflow → webgpu → wasm and reports why each was skipped', async () => {
    const webgpu = webgpuProbe;
    const sel = await selectBackend('auto');
    expect(sel.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(sel.threads).toBeGreaterThanOrEqual(1);
    expect(sel.reason).toMatch(/wasm/);
    expect(sel.skipped).toEqual([
      { name: '@tensorflow/tfjs-node-gpu', why: expect.stringMatching(/^not installed \(opt-in: npm install @tensorflow\/tfjs-node-gpu@4\.22\.0 .*CUDA 11\.2 and cuDNN 8\.1\)\)$/) },
      { name: '@tensorflow/tfjs-node', why: expect.stringMatching(/^not installed \(opt-in: npm install @tensorflow\/tfjs-node@4\.22\.0 /) },
      { name: 'webgpu', why: (webgpu as { why: string }).why },
    ]);
  });

  it.skipIf(hasTfNode)('rejects an unavailable explicit request with a BackendError that says why', async () => {
    const err = await selectBackend('tensorflow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).name).toBe('BackendError');
    expect((err as BackendError).request).toBe('tensorflow');
    expect((err as BackendError).message).toMatch(/tfjs-node-gpu: not installed.*tfjs-node: not installed/);
    expect((err as BackendError).skipped.map((s) => s.name)).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
  });

  it('rejects an unknown request', async () => {
    await expect(selectBackend('gpu' as BackendRequest)).rejects.toThrow(BackendError);
  });

  it('selects cpu and wasm on request', async () => {
    expect((await selectBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await selectBackend('wasm');
    expect(wasm).toMatchObject({ name: 'wasm', skipped: [] });
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('softwareAdapterReason', () => {
  it('rejects software rasterisers', () => {
    // As reported by Chromium's SwiftShader, Mesa's llvmpipe/lavapipe and the spec's fallback flag.
    expect(softwareAdapterReason({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' }))
      .toMatch(/software adapter/);
    expect(softwareAdapterReason({ vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toMatch(/llvmpipe/);
    expect(softwareAdapterReason({ vendor: 'mesa', architecture: '', description: 'lavapipe' })).toMatch(/lavapipe/);
    expect(softwareAdapterReason({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })).toMatch(/basic render/i);
    expect(softwareAdapterReason({ vendor: 'x', isFallbackAdapter: true })).toMatch(/isFallbackAdapter/);
    expect(softwareAdapterReason({ vendor: 'x', adapterType: 'CPU' })).toMatch(/adapterType cpu/);
  });

  it('accepts hardware adapters', () => {
    expect(softwareAdapterReason({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200', isFallbackAdapter: false })).toBeNull();
    expect(softwareAdapterReason({ vendor: 'intel', architecture: 'gen-12lp', adapterType: 'integrated GPU' })).toBeNull();
    expect(softwareAdapterReason({ vendor: 'apple', architecture: 'metal-3' })).toBeNull();
  });
});
