// sessionInWorker: the same onnxruntime-node session, run in a worker thread. Scores must equal
// the in-process ones bit for bit, provider fallback and typed errors must read the same, and a
// disposed (or forgotten) detector must not keep the process alive.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { RawImage } from '../../../src/runtime/core/pixels.js';
import { createWorkerSession } from '../../../src/runtime/node/worker-session.js';
import { createDetector, DisposedError, ProviderError, type NodeDetector, type ScoreResult } from '../../../src/runtime/node.js';
import { makeModelFolder, testImage, type TestModel } from '../../helpers/make-model.js';

const ALL_OUTPUTS = ['z', 'zHat', 'reconstruction', 'anomalyMap'] as const;
const quiet = { warn: () => undefined };
const images: RawImage[] = Array.from({ length: 7 }, (_, i) => testImage(30 + 3 * i, 32, 1 + (i % 4), 40 + i));

let grey: TestModel;
let inProcess: NodeDetector;
let inWorker: NodeDetector;
let outdir: string;

beforeAll(async () => {
  grey = await makeModelFolder();
  inProcess = await createDetector({ model: grey.dir, executionProviders: ['cpu'], logger: quiet });
  inWorker = await createDetector({ model: grey.dir, executionProviders: ['cpu'], logger: quiet, sessionInWorker: true });
  await mkdir('.tmp', { recursive: true }); // inside the repository, so bare imports resolve
  outdir = await mkdtemp(join('.tmp', 'worker-session-test-'));
});

afterAll(async () => {
  await inProcess?.dispose();
  await inWorker?.dispose();
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

function expectIdentical(a: ScoreResult[], b: ScoreResult[]): void {
  expect(a).toHaveLength(b.length);
  a.forEach((r, i) => {
    const s = b[i]!;
    expect(r.score).toBe(s.score);
    expect(r.normalized).toBe(s.normalized);
    expect(r.isAnomaly).toBe(s.isAnomaly);
    for (const k of ['z', 'zHat'] as const) expect(r[k] && Array.from(r[k]!)).toEqual(s[k] && Array.from(s[k]!));
    for (const k of ['reconstruction', 'anomalyMap'] as const) {
      expect(r[k] && { ...r[k], data: Array.from(r[k]!.data) }).toEqual(s[k] && { ...s[k], data: Array.from(s[k]!.data) });
    }
  });
}

describe('scores', () => {
  it('equal the in-process scores exactly, for 1 and 7 images, with and without optional outputs', async () => {
    for (const batch of [images.slice(0, 1), images]) {
      expectIdentical(await inWorker.score(batch), await inProcess.score(batch));
      const [w, p] = [await inWorker.score(batch, { outputs: ALL_OUTPUTS }), await inProcess.score(batch, { outputs: ALL_OUTPUTS })];
      expectIdentical(w, p);
      expect(w[0]!.anomalyMap!.data).toBeInstanceOf(Float32Array);
    }
  });

  it('concurrent score() calls each get their own images’ scores', async () => {
    const calls = Array.from({ length: 12 }, (_, i) => images.slice(i % 7, (i % 7) + 1 + (i % 3)));
    const parallel = await Promise.all(calls.map((c) => inWorker.score(c, { outputs: ['z'] })));
    for (const [i, c] of calls.entries()) expectIdentical(parallel[i]!, await inProcess.score(c, { outputs: ['z'] }));
  });
});

describe('the session handle', () => {
  it('runs concurrent run() calls, moves the input by transfer, and rejects after release', async () => {
    const session = await createWorkerSession(grey.detector, 'cpu');
    const [c, h, w] = [1, grey.cfg.isize, grey.cfg.isize];
    const inputs = [1, 2, 3].map((n) => new Float32Array(n * c * h * w).map((_, i) => Math.sin(i * 0.01 + n)));
    const copies = inputs.map((x) => x.slice());
    const outs = await Promise.all(inputs.map((x) => session.run('x', { data: x, dims: [x.length / (c * h * w), c, h, w] }, ['score', 'z'])));
    expect(inputs.every((x) => x.length === 0)).toBe(true); // detached: transferred, not copied
    outs.forEach((o, k) => {
      expect(o.score!.dims).toEqual([k + 1]);
      expect(o.z!.dims).toEqual([k + 1, grey.cfg.nz]);
    });
    // Each run answered its own input: the 1-image input is the first row of the 3-image one.
    const again = await session.run('x', { data: copies[2]!, dims: [3, c, h, w] }, ['score']);
    expect(Array.from(again.score!.data)).toEqual(Array.from(outs[2]!.score!.data));
    await session.release();
    await session.release(); // idempotent
    await expect(session.run('x', { data: copies[0]!, dims: [1, c, h, w] }, ['score'])).rejects.toThrow(/released/);
  });

  it('rejects session options that cannot be sent to the worker thread', async () => {
    const err = await createWorkerSession(grey.detector, 'cpu', { sessionOptions: { onLog: () => undefined } }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/cannot pass to the ONNX Runtime worker thread/);
  });

  it('reports ORT errors from the worker as errors with their message', async () => {
    const session = await createWorkerSession(grey.detector, 'cpu');
    try {
      await expect(session.run('x', { data: new Float32Array(5), dims: [1, 1, 1, 5] }, ['score'])).rejects.toThrow(/dimension|shape|Got invalid/i);
      await expect(session.run('nope', { data: new Float32Array(4), dims: [1, 1, 2, 2] }, ['score'])).rejects.toThrow(/nope|input/i);
    } finally {
      await session.release();
    }
  });
});

describe('execution providers', () => {
  it("['cuda', 'cpu'] ends on a working provider and says once why cuda was skipped", async () => {
    const warn = vi.fn();
    const d = await createDetector({ model: grey.dir, executionProviders: ['cuda', 'cpu'], logger: { warn }, sessionInWorker: true });
    try {
      if (d.provider === 'cuda') expect(warn).not.toHaveBeenCalled();
      else {
        expect(d.provider).toBe('cpu');
        expect(warn).toHaveBeenCalledTimes(1);
        expect(warn.mock.calls[0]![0]).toMatch(/execution provider 'cuda' \(.+\) unavailable; using 'cpu'/);
      }
      expectIdentical([await d.score(images[0]!)], [await inProcess.score(images[0]!)]);
    } finally {
      await d.dispose();
    }
  });

  it('throws ProviderError when no provider works, and DisposedError after dispose', async () => {
    const err = await createDetector({ model: grey.dir, executionProviders: ['no-such-ep'], logger: quiet, sessionInWorker: true }).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).failures.map((f) => f.provider)).toEqual(['no-such-ep']);
    const d = await createDetector({ model: grey.dir, executionProviders: ['cpu'], logger: quiet, sessionInWorker: true });
    await d.dispose();
    await expect(d.score(images[0]!)).rejects.toThrow(DisposedError);
  });
});

describe('process lifetime (bundled, as tsup ships it)', () => {
  // A script that scores once; with `dispose` it disposes, without it just returns. Either way the
  // process must exit by itself: a live worker thread would keep it running.
  const runScript = async (dispose: boolean) => {
    const file = join(outdir, `score-${dispose ? 'dispose' : 'forget'}.mjs`);
    const entry = join(outdir, `entry-${dispose}.ts`);
    await writeFile(
      entry,
      `import { createDetector } from '${resolve('src/runtime/node.ts')}';
const d = await createDetector({ model: ${JSON.stringify(grey.dir)}, executionProviders: ['cpu'], logger: null, sessionInWorker: true });
const r = await d.score({ data: new Uint8Array(32 * 32), width: 32, height: 32, channels: 1 });
console.log(JSON.stringify({ score: r.score }));
${dispose ? 'await d.dispose();' : ''}`,
    );
    await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', packages: 'external', outfile: file, logLevel: 'silent' });
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => void child.kill()); // if it hung, the test timed out: stop it
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    return { code, out, err };
  };

  it.each([[true], [false]])('exits on its own after scoring in a worker (dispose: %s)', async (dispose) => {
    const { code, out, err } = await runScript(dispose);
    expect(err).toBe('');
    expect(code).toBe(0);
    const expected = await inProcess.score({ data: new Uint8Array(32 * 32), width: 32, height: 32, channels: 1 });
    expect(JSON.parse(out)).toEqual({ score: expected.score });
  });
});
