// `ganomaly serve` as a real process: JSON log lines on stdout, and SIGTERM drains an accepted
// request before the process exits 0. The CLI is bundled with esbuild (as users get it from tsup).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli-args.js';
import { runServe as run } from '../../src/gateway/cli/serve.js';
import { makeModelFolder, testImage, type TestModel } from '../helpers/make-model.js';

let model: TestModel;
let outdir: string;

beforeAll(async () => {
  model = await makeModelFolder();
  // Inside the repository, so the bundle's bare imports (onnxruntime-node, sharp) resolve.
  await import('node:fs/promises').then((fs) => fs.mkdir('.tmp', { recursive: true }));
  outdir = await mkdtemp(join('.tmp', 'serve-cli-test-'));
  await build({
    entryPoints: { index: 'src/cli/index.ts' }, bundle: true, splitting: true, format: 'esm', platform: 'node',
    packages: 'external', outdir, logLevel: 'silent',
  });
});

afterAll(async () => {
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

afterEach(() => vi.restoreAllMocks());

describe('ganomaly serve (in-process)', () => {
  it('--help lists the options; bad usage is a UsageError', async () => {
    let out = '';
    vi.spyOn(console, 'log').mockImplementation((s) => void (out += String(s)));
    expect(await run(['--help'])).toBe(0);
    for (const opt of ['--model', '--port', '--health-port', '--no-health-port', '--decode-concurrency', '--host', '--providers', '--max-batch', '--max-wait-ms', '--max-queue', '--max-body', '--timeout-ms', '--body-timeout-ms', '--session-in-main-thread']) {
      expect(out).toContain(opt);
    }
    await expect(run([])).rejects.toThrow(UsageError);
    await expect(run(['--model', model.dir, '--max-body', 'lots'])).rejects.toThrow(/^--max-body must be a size from 1 B to 2 GiB/);
    await expect(run(['--model', model.dir, '--max-wait-ms', '-1'])).rejects.toThrow(/^--max-wait-ms must be a number from 0 to 2147483647 \(ms\); got '-1'$/);
    await expect(run(['--model', model.dir, '--max-batch', '0'])).rejects.toThrow(RangeError);
    await expect(run(['--model', model.dir, 'extra-positional'])).rejects.toThrow(UsageError);
    await expect(run(['--model', model.dir, '--health-port', 'x'])).rejects.toThrow(RangeError);
    await expect(run(['--model', model.dir, '--health-port', '65536'])).rejects.toThrow(/--health-port must be an integer from 0 to 65535/);
    await expect(run(['--model', model.dir, '--port', '70000'])).rejects.toThrow(/--port must be an integer from 0 to 65535/);
    await expect(run(['--model', model.dir, '--health-port', '0', '--no-health-port'])).rejects.toThrow(/not both/);
  });
});

/** Collects JSON lines from a child's stdout; `waitFor` resolves on the first line matching. */
function jsonLines(child: ChildProcess) {
  const lines: Record<string, unknown>[] = [];
  const waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.test(line)) waiters.splice(waiters.indexOf(w), 1), w.resolve(line);
    }
  });
  return {
    lines,
    waitFor: (test: (l: Record<string, unknown>) => boolean) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const hit = lines.find(test);
        if (hit) resolve(hit);
        else waiters.push({ test, resolve });
      }),
  };
}

describe('ganomaly serve (process)', () => {
  it('logs JSON lines; the health port is on by default; on SIGTERM it turns unready, the accepted requests are answered, then it exits 0', async () => {
    const child = spawn(process.execPath, [join(outdir, 'index.js'), 'serve', '--model', model.dir, '--port', '0', '--providers', 'cpu', '--max-batch', '64', '--max-wait-ms', '600000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const out = jsonLines(child);
    const listening: Record<string, unknown> = await Promise.race([out.waitFor((l) => l.msg === 'listening'), exited.then(() => ({ url: `exited early: ${stderr}` }))]);
    const url = String(listening.url);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const healthUrl = String(listening.healthUrl);
    expect(healthUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${healthUrl}/readyz`)).status).toBe(200);

    const im = testImage(40, 40, 1, 9);
    const png = await sharp(Buffer.from(im.data), { raw: { width: 40, height: 40, channels: 1 } }).png().toBuffer();
    const metrics = async () => (await fetch(`${url}/metrics`)).text();
    const until = async (re: RegExp) => {
      while (!re.test(await metrics())) await new Promise((r) => setTimeout(r, 10));
    };
    // A half-sent upload: accepted, still arriving. While it is on its way the 10-minute window
    // holds the next request in the queue, so both are in flight when SIGTERM comes.
    let finishUpload = () => {};
    const uploading = new Promise<number>((resolve, reject) => {
      const req = http.request(`${url}/v1/score`, { method: 'POST', headers: { 'content-type': 'image/png', 'content-length': png.length } }, (res) => {
        res.resume().on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.write(png.subarray(0, 10));
      finishUpload = () => req.end(png.subarray(10));
    });
    await until(/^ganomaly_arriving_images 1$/m);
    const queued = fetch(`${url}/v1/score`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });
    await until(/^ganomaly_queue_depth 1$/m);
    child.kill('SIGTERM');
    // Draining: the health port's /readyz turns 503 while the accepted requests are still served.
    while ((await fetch(`${healthUrl}/readyz`)).status !== 503) await new Promise((r) => setTimeout(r, 10));
    expect((await fetch(`${healthUrl}/healthz`)).status).toBe(200);
    const reply = await queued;
    expect(reply.status).toBe(200);
    expect(typeof ((await reply.json()) as { score: unknown }).score).toBe('number');
    finishUpload();
    expect(await uploading).toBe(200);
    expect(await exited).toBe(0);
    const msgs = out.lines.map((l) => l.msg);
    expect(msgs).toEqual(expect.arrayContaining(['listening', 'signal', 'draining', 'closed']));
    expect(out.lines.filter((l) => l.msg === 'request' && l.route === '/v1/score' && l.status === 200)).toHaveLength(2);
    expect(msgs.indexOf('closed')).toBeGreaterThan(msgs.indexOf('signal'));
  });
});
