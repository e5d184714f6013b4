// Training on wasm without the oneDNN addon runs tfjs's threaded wasm build (src/train/backend/
// wasm-threads.ts) on every core. Each run is its own process: a wasm build cannot be swapped
// once tfjs started one, and the process must exit by itself afterwards.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

function runChild(env: Record<string, string>): Promise<ChildOut> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(dir, 'train-steps.mjs')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // Well above the run itself (a few seconds): only a process held open by its workers gets here.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the training child did not exit by itself within 60 s; output: ${out.slice(-300)} ${err.slice(-300)}`));
    }, 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`child exited ${code}: ${err.slice(-500)}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildOut);
    });
  });
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
