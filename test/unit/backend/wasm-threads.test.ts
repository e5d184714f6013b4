// Training on wasm without the oneDNN addon runs tfjs's threaded wasm build (src/backend/
// wasm-threads.ts) on every core. Each run is its own process: a wasm build cannot be swapped
// once tfjs started one, and the process must exit by itself afterwards.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode } from '../../helpers/cli-bundle.js';

interface ChildOut { reason: string; threads: number; losses: Record<string, number>[] }

let dir = '';
beforeAll(async () => {
  await mkdir('.tmp', { recursive: true });
  dir = await mkdtemp(join('.tmp', 'wasm-threads-'));
  await build({
    entryPoints: ['test/fixtures/wasm-threads/train-steps.ts'], bundle: true, format: 'esm', platform: 'node',
    packages: 'external', outfile: join(dir, 'train-steps.mjs'), logLevel: 'silent',
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function runChild(env: Record<string, string>): Promise<ChildOut> {
  // Well above the run itself (a few seconds): only a process held open by its workers gets there.
  const r = await runNode([join(dir, 'train-steps.mjs')], { env, timeoutMs: 60_000, what: 'the training child (exiting by itself)' });
  if (r.code !== 0) throw new Error(`child exited ${r.code}: ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildOut;
}

describe.skipIf(os.availableParallelism() < 2)('wasm training without the oneDNN addon', () => {
  it('uses every core through the threaded build, computes what the single-threaded build does, and exits by itself', async () => {
    const single = await runChild({ GANOMALY_NATIVE: '0', GANOMALY_WASM_THREADS: '1' });
    const threaded = await runChild({ GANOMALY_NATIVE: '0' });
    expect(single.threads).toBe(1);
    expect(single.reason).toMatch(/single-threaded SIMD/);
    expect(threaded.threads).toBe(Math.min(8, os.availableParallelism()));
    expect(threaded.reason).toMatch(new RegExp(`XNNPACK, ${threaded.threads} threads`));
    // XNNPACK splits each output across threads; every value is still summed by one thread in one order.
    for (let i = 0; i < 4; i++) {
      for (const [k, v] of Object.entries(single.losses[i]!)) {
        if (typeof v !== 'number') continue;
        expect(Math.abs(threaded.losses[i]![k]! - v) / Math.max(1e-6, Math.abs(v)), `step ${i} ${k}`).toBeLessThanOrEqual(1e-6);
      }
    }
  }, 150_000);
});
