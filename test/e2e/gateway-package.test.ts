// The gateway package as a gateway operator installs it (issue 19): the packed
// @ganomaly-edge/gateway into a fresh folder, with only the .npmrc line that skips onnxruntime-node's
// CUDA download (no env var). It brings onnxruntime-node and sharp, no TensorFlow.js, and its
// `ganomaly-gateway serve` scores the prebuilt model's sample as the runtime does in that folder.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLine } from '../helpers/log-line.js';
import { footprint, freshInstall, installScripts, MiB, packAll, REPO, runIn, typecheck, userEnv, type Footprint, type Install, type PackageKey, type Packed } from '../helpers/packages.js';

const HAVE_BUILD = existsSync(join(REPO, 'packages', 'gateway', 'dist', 'cli', 'index.js')) && existsSync(join(REPO, 'packages', 'runtime', 'dist', 'node.js'));
const SAMPLE = 'abnormal-trouser-21.png';

describe.skipIf(!HAVE_BUILD && !process.env.CI)('installed gateway package', () => {
  let work: string;
  let packed: Record<PackageKey, Packed>;
  let install: Install;
  let fp: Footprint;
  let bin: string;
  let model: string;

  beforeAll(async () => {
    if (!HAVE_BUILD) throw new Error('packages/gateway/dist is not built: run `npm run build` (npm test does it first)');
    work = await mkdtemp(join(tmpdir(), 'ganomaly-gateway-package-'));
    packed = await packAll(join(work, 'packed'));
    // The runtime's tarball stands in for the registry (the gateway depends on it by version);
    // onnxruntime-node and sharp come from the gateway's own dependencies.
    install = await freshInstall(join(work, 'gateway'), [packed.runtime.tarball, packed.gateway.tarball, packed.model.tarball], ['onnxruntime-node-install=skip']);
    fp = await footprint(install.dir);
    bin = join(install.dir, 'node_modules', '.bin', 'ganomaly-gateway');
    model = join(install.dir, 'node_modules', '@ganomaly-edge', 'model-fashion-mnist-trouser');
  }, 600_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships only its build and README, with no install script of its own', () => {
    const g = packed.gateway;
    console.log(`@ganomaly-edge/gateway: ${(g.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${(g.size / 1024).toFixed(1)} KiB packed: ${g.files.join(', ')}`);
    expect(Object.keys(g.scripts)).toEqual([]);
    for (const f of g.files) expect(f).toMatch(/^(package\.json|README\.md|dist\/.*\.(js|d\.ts))$/);
    expect(g.files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/cli/index.js', 'dist/cli/commands.js', 'README.md']));
  });

  it('installs onnxruntime-node, sharp, mqtt, yaml and one runtime; nothing of TensorFlow.js, webgpu or the toolkit', async () => {
    const toolkit = (JSON.parse(await readFile(join(REPO, 'bench', 'results', 'packages.json'), 'utf8')) as { installs: Record<string, { nodeModulesBytes: number; packages: number }> }).installs.toolkit;
    console.log(
      `gateway-package node_modules: ${(fp.bytes / MiB).toFixed(1)} MiB, ${fp.packages.length} packages, ${(install.ms / 1000).toFixed(1)} s` +
        (toolkit ? ` (toolkit, bench/results/packages.json: ${(toolkit.nodeModulesBytes / MiB).toFixed(1)} MiB, ${toolkit.packages} packages)` : ''),
    );
    for (const p of ['@ganomaly-edge/gateway', '@ganomaly-edge/runtime', 'onnxruntime-node', 'sharp', 'mqtt', 'yaml']) expect(fp.packages).toContain(p);
    expect(fp.packages.filter((p) => /^@tensorflow\/|^webgpu$|^ganomaly-edge$|^@ganomaly-edge\/browser$/.test(p))).toEqual([]);
    expect(fp.packages.filter((p) => p === '@ganomaly-edge/runtime')).toHaveLength(1);
    expect(existsSync(join(install.dir, 'node_modules', '@ganomaly-edge', 'gateway', 'node_modules', '@ganomaly-edge'))).toBe(false);
    expect(await installScripts(install.dir, ['@ganomaly-edge/gateway'])).toEqual({ '@ganomaly-edge/gateway': [] });
  });

  it('ganomaly-gateway --help, serve --help and watch --help answer; bad usage is one line, exit 2', async () => {
    expect(await runIn(install.dir, bin, ['--help'])).toMatch(/Usage: ganomaly-gateway <command>[^]*serve[^]*watch/);
    const serveHelp = await runIn(install.dir, bin, ['serve', '--help']);
    expect(serveHelp).toMatch(/^Usage: ganomaly-gateway serve --model/);
    for (const opt of ['--health-port', '--no-health-port', '--port', '--max-decoded']) expect(serveHelp).toContain(opt);
    const watchHelp = await runIn(install.dir, bin, ['watch', '--help']);
    for (const opt of ['--config', '--source', '--model', '--fps']) expect(watchHelp).toContain(opt);
    for (const args of [['serve'], ['serve', '--model', model, '--port', 'x'], ['bogus']]) {
      const err = await runIn(install.dir, bin, args).then(() => null, (e: { stderr: string; code: number }) => e);
      expect(err?.code, args.join(' ')).toBe(2);
      expect(err?.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      // A number out of its range is a RangeError naming the flag (option-ranges.ts); other bad usage a UsageError. Both exit 2.
      expect(err?.stderr).toMatch(args.includes('--port') ? /^ganomaly-gateway: RangeError: --port must be an integer from 0 to 65535; got 'x'$/m : /^ganomaly-gateway: UsageError: /);
    }
  });

  it('ganomaly-gateway serve scores the prebuilt model sample as the runtime does, answers its default health port, and exits 0 on SIGTERM', async () => {
    await writeFile(
      join(install.dir, 'score-sample.mjs'),
      [
        "import { join } from 'node:path';",
        "import { createDetector } from '@ganomaly-edge/runtime';",
        "import { dir, samplesDir } from '@ganomaly-edge/model-fashion-mnist-trouser';",
        "const d = await createDetector({ model: dir, executionProviders: ['cpu'], logger: null });",
        `const r = await d.score(join(samplesDir, '${SAMPLE}'));`,
        'console.log(JSON.stringify({ score: r.score, isAnomaly: r.isAnomaly, threshold: d.threshold }));',
        'await d.dispose();',
      ].join('\n'),
    );
    const expected = JSON.parse(await runIn(install.dir, 'score-sample.mjs')) as { score: number; isAnomaly: boolean; threshold: number };
    expect(Number.isFinite(expected.score)).toBe(true);

    const child = spawn(bin, ['serve', '--model', model, '--port', '0', '--execution-providers', 'cpu', '--quiet'], { cwd: install.dir, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const listening = await logLine<{ url: string; healthUrl?: string }>(child, child.stdout!, 'listening', () => stderr);
      const png = await readFile(join(model, 'samples', SAMPLE));
      const r = await fetch(`${listening.url}/v1/score`, { method: 'POST', body: new Uint8Array(png), headers: { 'content-type': 'image/png' } });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { score: number; isAnomaly: boolean; threshold: number };
      expect(Math.abs(body.score - expected.score)).toBeLessThanOrEqual(1e-6);
      expect(body.isAnomaly).toBe(expected.isAnomaly);
      expect(body.threshold).toBe(expected.threshold);
      expect(listening.healthUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(listening.healthUrl).not.toBe(listening.url);
      expect((await fetch(`${listening.healthUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${listening.healthUrl}/readyz`)).status).toBe(200);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr).toBe('');
  });

  it('ganomaly-gateway watch runs there: a video made by ffmpeg, threshold 0, gives one event from its first frame to its end; SIGTERM exits 0', async () => {
    // 10 frames of the abnormal sample at 5 fps, lossless; the camera's view is the whole 28×28 frame.
    const video = join(install.dir, 'sample.mkv');
    const mk = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', '-loop', '1', '-i', join(model, 'samples', SAMPLE), '-frames:v', '10', '-r', '5', '-c:v', 'ffv1', '-pix_fmt', 'gray', video]);
    expect(mk.status, String(mk.stderr)).toBe(0);
    const child = spawn(bin, ['watch', '--source', video, '--model', model, '--execution-providers', 'cpu', '--roi', '0,0,28,28', '--start-frames', '1', '--threshold', '0', '--port', '0', '--health-port', '0'],
      { cwd: install.dir, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const watching = await logLine<{ url: string; healthUrl: string }>(child, child.stderr!, 'watching');
      expect((await fetch(`${watching.healthUrl}/healthz`)).status).toBe(200);
      for (let i = 0; i < 300; i++) {
        const cams = (await (await fetch(`${watching.url}/cameras`)).json()) as { state: string; framesScored: number }[];
        if (cams[0]!.state === 'ended') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const cams = (await (await fetch(`${watching.url}/cameras`)).json()) as { state: string; framesScored: number; framesReceived: number }[];
      expect(cams[0]).toMatchObject({ state: 'ended', framesReceived: 10 });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited, err).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    // Every score is over a threshold of 0: one event, started on frame 1 (start-frames 1), ended when the file did.
    const events = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; startFrame?: number; peakScore?: number });
    const start = events.find((e) => e.type === 'start')!;
    expect(start.startFrame).toBe(1);
    const end = events.filter((e) => e.type !== 'state').at(-1)! as { type: string; reason?: string; endFrame?: number };
    expect(end).toMatchObject({ type: 'end', reason: 'offline', endFrame: 10 });
  }, 120_000);

  it('the library entry loads in the installed folder: startServer, SERVE_DEFAULTS, HttpError', async () => {
    await writeFile(
      join(install.dir, 'api.mjs'),
      "import * as g from '@ganomaly-edge/gateway';\nimport { GanomalyError } from '@ganomaly-edge/runtime';\n" +
        "console.log(JSON.stringify({ keys: Object.keys(g).sort(), port: g.SERVE_DEFAULTS.port, httpErrorIsGanomalyError: new g.HttpError(400, 'x', 'y') instanceof GanomalyError }));\n",
    );
    const api = JSON.parse(await runIn(install.dir, 'api.mjs')) as { keys: string[]; port: number; httpErrorIsGanomalyError: boolean };
    expect(api.keys).toEqual(expect.arrayContaining(['HttpError', 'SERVE_DEFAULTS', 'startServer']));
    expect(api.port).toBe(8080);
    // One runtime: the gateway's errors are the runtime's GanomalyError, not a bundled copy.
    expect(api.httpErrorIsGanomalyError).toBe(true);
  });

  it('a strict NodeNext TypeScript consumer compiles against the packed types; a mistyped option does not', async () => {
    const tsconfig = {
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], strict: true, noEmit: true, skipLibCheck: false },
      files: ['consumer-gateway.mts'],
    };
    await writeFile(join(install.dir, 'tsconfig.gateway.json'), JSON.stringify(tsconfig));
    const consumer = (healthPort: string) => [
      "import { startServer, SERVE_DEFAULTS, HttpError, type ServeOptions, type RunningServer } from '@ganomaly-edge/gateway';",
      "import { GATEWAY_COMMANDS } from '@ganomaly-edge/gateway/cli';",
      `const options: ServeOptions = { model: './model', port: SERVE_DEFAULTS.port, healthPort: ${healthPort} };`,
      'export const start = (): Promise<RunningServer> => startServer(options);',
      "export const code: string = new HttpError(503, 'queue_full', 'busy').code;",
      'export const run: (argv: string[]) => Promise<number> = GATEWAY_COMMANDS.serve.run;',
    ].join('\n');
    const types = ['--typeRoots', join(REPO, 'node_modules', '@types'), '--types', 'node'];
    await writeFile(join(install.dir, 'consumer-gateway.mts'), consumer('false'));
    expect(await typecheck(join(install.dir, 'tsconfig.gateway.json'), types)).toBe('');
    // The check has teeth: a health port given as a string is a type error.
    await writeFile(join(install.dir, 'consumer-gateway.mts'), consumer("'8081'"));
    expect(await typecheck(join(install.dir, 'tsconfig.gateway.json'), types)).toMatch(/consumer-gateway\.mts.*error TS2322/);
  }, 120_000);
});
