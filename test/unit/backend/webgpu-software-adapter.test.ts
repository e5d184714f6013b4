// Without allowSoftwareWebGpuAdapter (tests and benches only), a software WebGPU adapter is still
// refused for training: here Dawn is pointed at Chromium's SwiftShader Vulkan driver, the adapter
// the WebGPU kernel tests run on, and the probe must say no and why.
import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { probeNodeWebGpu, SWIFTSHADER_VULKAN_ICDS } from '../../../src/backend/webgpu-adapter.js';

const icd = SWIFTSHADER_VULKAN_ICDS.find((f) => existsSync(f));

it.skipIf(icd === undefined)('the default probe refuses the SwiftShader adapter', async () => {
  process.env.VK_ICD_FILENAMES = icd;
  const r = await probeNodeWebGpu();
  expect(r.ok).toBe(false);
  expect(!r.ok && r.why).toMatch(/^software adapter \(isFallbackAdapter\): google \/ swiftshader/);
}, 60_000);
