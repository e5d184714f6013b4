// The packages as users install them: `npm pack` the toolkit, the runtime and the model package,
// install the tarballs into fresh folders outside the repository (npm cache first, no env var, no
// .npmrc of ours), and use them there: a gateway script, the toolkit's CLI, strict TypeScript
// consumers, and a web app built with Vite and with esbuild, scored in headless Chromium.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addPackages,
  buildWithEsbuild,
  buildWithVite,
  footprint,
  freshInstall,
  gatewayOverride,
  installScripts,
  listOutput,
  packAll,
  REPO,
  runIn,
  typecheck,
  userEnv,
  type Footprint,
  type Install,
  type PackageKey,
  type Packed,
} from '../helpers/packages.js';
import { logLine } from '../helpers/log-line.js';
import { serveFolder } from '../helpers/static-server.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../helpers/chromium.js';

const REQUIRE_BROWSER = process.env.GANOMALY_REQUIRE_BROWSER === '1';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const HAVE_BUILD = existsSync(join(REPO, 'dist', 'cli', 'index.js')) && existsSync(join(REPO, 'packages', 'runtime', 'dist', 'web.js')) && existsSync(join(REPO, 'packages', 'browser', 'dist', 'index.js'));
const FIXTURES = join(REPO, 'test', 'fixtures', 'packages');
const SAMPLE = 'abnormal-trouser-21.png';


const TRAINING_OR_NATIVE = /^(@tensorflow\/|webgpu$|onnxruntime-node$|sharp$|@img\/)/;

describe.skipIf(!HAVE_BUILD && !process.env.CI)('installed packages', () => {
  let work: string;
  let packed: Record<PackageKey, Packed>;
  let web: Install;
  let webBefore: Footprint;
  let ortAlone: Footprint;
  let gateway: Install;
  let trainer: Install;
  let toolkit: Install;
  let gatewayScores: {
    provider: string; scores: Record<string, number>; flags: Record<string, boolean>; raw: number; threshold: number;
    byPrecision: Record<'fp32' | 'fp16' | 'int8', { score: number; threshold: number }>;
  };

  beforeAll(async () => {
    if (!HAVE_BUILD) throw new Error('dist/ is not built: run `npm run build` (npm test does it first)');
    work = await mkdtemp(join(tmpdir(), 'ganomaly-packages-'));
    packed = await packAll(join(work, 'packed'));
    // The three kinds of user, installed side by side (npm's cache is safe to share).
    [web, gateway, toolkit] = await Promise.all([
      freshInstall(join(work, 'web'), [packed.runtime.tarball, 'onnxruntime-web@1.30.0']),
      // A gateway's own .npmrc line, as the runtime README says: onnxruntime-node's install script
      // would otherwise fetch the CUDA provider from outside the npm registry (and fail offline).
      freshInstall(join(work, 'gateway'), [packed.runtime.tarball, packed.model.tarball, 'onnxruntime-node@1.30.0', 'sharp@0.35.5'], ['onnxruntime-node-install=skip']),
      // The toolkit with no env var and no .npmrc at all.
      freshInstall(join(work, 'toolkit'), [packed.runtime.tarball, packed.browser.tarball, packed.toolkit.tarball], [], gatewayOverride(packed)),
    ]);
    // A web app that learns in the page: the browser package, the runtime and onnxruntime-web.
    trainer = await freshInstall(join(work, 'trainer'), [packed.runtime.tarball, packed.browser.tarball, 'onnxruntime-web@1.30.0']);
    webBefore = await footprint(web.dir);
    ortAlone = await footprint((await freshInstall(join(work, 'ort-web-alone'), ['onnxruntime-web@1.30.0'])).dir);
    await addPackages(web.dir, [packed.model.tarball]);
    await cp(join(FIXTURES, 'web-app'), web.dir, { recursive: true });
    await cp(join(web.dir, 'node_modules', '@ganomaly-edge', 'model-fashion-mnist-trouser', 'samples', SAMPLE), join(web.dir, 'public', 'sample.png'));
    for (const f of ['gateway.mjs', 'raw-only.mjs', 'consumer-node.mts', 'tsconfig.node.json']) await cp(join(FIXTURES, f), join(gateway.dir, f));
    gatewayScores = JSON.parse(await runIn(gateway.dir, 'gateway.mjs'));
  }, 600_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the runtime package is small, has no install script, and ships only its build and README', () => {
    const r = packed.runtime;
    console.log(`@ganomaly-edge/runtime: ${(r.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${(r.size / 1024).toFixed(1)} KiB packed: ${r.files.join(', ')}`);
    // 308 KiB at 2026-12-02: the untrusted-graph check (ONNX reader + operator allow-list) and patch
    // models added ~45 KiB of JS to each entry; the budget keeps it to what one install round can afford.
    expect(r.unpackedSize).toBeLessThanOrEqual(320 * 1024);
    expect(r.files.sort()).toEqual(['README.md', 'dist/node.d.ts', 'dist/node.js', 'dist/web.d.ts', 'dist/web.js', 'package.json']);
    expect(Object.keys(r.scripts)).toEqual([]);
    expect(Object.keys(packed.model.scripts)).toEqual([]);
    // The model package: what the runtime loads, its README and samples; not the part graphs or eval output.
    expect(packed.model.files).toEqual(expect.arrayContaining([
      'detector.onnx', 'detector.fp16.onnx', 'detector.int8.onnx', 'manifest.json', 'README.md', 'index.js', 'node.js', 'fp16.js', 'int8.js', 'samples/samples.json',
    ]));
    expect(packed.model.files.filter((f) => /^(GE|GD|E)\.onnx$|^eval\/|^training-/.test(f))).toEqual([]);
    // The toolkit no longer carries the model; it ships its docs so README links resolve.
    expect(packed.toolkit.files.filter((f) => f.startsWith('models/'))).toEqual([]);
    expect(packed.toolkit.files).toEqual(expect.arrayContaining(['README.md', 'docs/serve.md', 'dist/cli/index.js', 'dist/browser/index.js', 'dist/browser/index.d.ts']));
  });

  it('the browser package ships its build and README, no install script, and imports the runtime by name', async () => {
    const b = packed.browser;
    console.log(`@ganomaly-edge/browser: ${(b.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${(b.size / 1024).toFixed(1)} KiB packed: ${b.files.join(', ')}`);
    expect(b.files.filter((f) => !/^dist\/[\w-]+\.(js|d\.ts)$/.test(f)).sort()).toEqual(['README.md', 'package.json']);
    expect(Object.keys(b.scripts)).toEqual([]);
    const js = await readFile(join(trainer.dir, 'node_modules', '@ganomaly-edge', 'browser', 'dist', 'index.js'), 'utf8');
    expect(js).toMatch(/from\s*["']@ganomaly-edge\/runtime/);
    expect(js).not.toMatch(/manifest_invalid/); // the runtime's error codes live in the runtime only
  });

  it('web app that learns: browser + runtime + onnxruntime-web install no onnxruntime-node, sharp or tfjs-node, and one runtime', async () => {
    const fp = await footprint(trainer.dir);
    console.log(`learning web app node_modules: ${(fp.bytes / 2 ** 20).toFixed(1)} MiB, ${fp.packages.length} packages, ${(trainer.ms / 1000).toFixed(1)} s`);
    expect(fp.packages.filter((p) => /^onnxruntime-node$|^sharp$|^@img\/|^@tensorflow\/tfjs-node/.test(p))).toEqual([]);
    expect(fp.packages).toEqual(expect.arrayContaining(['@ganomaly-edge/browser', '@ganomaly-edge/runtime', '@tensorflow/tfjs', 'onnxruntime-web']));
    expect(fp.packages.filter((p) => p === '@ganomaly-edge/runtime')).toHaveLength(1);
    expect(existsSync(join(trainer.dir, 'node_modules', '@ganomaly-edge', 'browser', 'node_modules'))).toBe(false);
    expect(fp.packages).not.toContain('ganomaly-edge');
  });

  it('web app: runtime + onnxruntime-web is ≤ 1.1× onnxruntime-web alone, with nothing of training or Node', async () => {
    const ratio = webBefore.bytes / ortAlone.bytes;
    console.log(`web app node_modules: ${(webBefore.bytes / 2 ** 20).toFixed(1)} MiB, ${webBefore.packages.length} packages, ${(web.ms / 1000).toFixed(1)} s; onnxruntime-web alone ${(ortAlone.bytes / 2 ** 20).toFixed(1)} MiB, ${ortAlone.packages.length} packages (×${ratio.toFixed(3)})`);
    expect(ratio).toBeLessThanOrEqual(1.1);
    expect(webBefore.packages.filter((p) => TRAINING_OR_NATIVE.test(p))).toEqual([]);
    expect(webBefore.packages.filter((p) => !ortAlone.packages.includes(p))).toEqual(['@ganomaly-edge/runtime']);
    expect(await installScripts(web.dir, ['@ganomaly-edge/runtime'])).toEqual({ '@ganomaly-edge/runtime': [] });
  });

  it('gateway: runtime + onnxruntime-node + sharp + model package scores PNGs, with no tfjs or webgpu', async () => {
    const fp = await footprint(gateway.dir);
    console.log(`gateway node_modules: ${(fp.bytes / 2 ** 20).toFixed(1)} MiB, ${fp.packages.length} packages, ${(gateway.ms / 1000).toFixed(1)} s; provider ${gatewayScores.provider}`);
    expect(fp.packages.filter((p) => /^@tensorflow\/|^webgpu$|^onnxruntime-web$/.test(p))).toEqual([]);
    expect(gatewayScores.provider).toBe('cpu');
    const names = Object.keys(gatewayScores.scores);
    expect(names).toHaveLength(10);
    // The bundled samples' verdicts at the model's threshold, as the model README states them.
    const abnormal = names.filter((n) => n.startsWith('abnormal-'));
    const normal = names.filter((n) => n.startsWith('normal-'));
    const mean = (xs: string[]) => xs.reduce((s, n) => s + gatewayScores.scores[n]!, 0) / xs.length;
    expect(mean(abnormal)).toBeGreaterThan(mean(normal));
    expect(Number.isFinite(gatewayScores.raw)).toBe(true);
    // The variants score close to float32, each against its own threshold.
    const p = gatewayScores.byPrecision;
    expect(p.fp32.score).toBe(gatewayScores.scores[SAMPLE]);
    expect(Math.abs(p.fp16.score - p.fp32.score) / p.fp32.score).toBeLessThan(5e-3);
    expect(Math.abs(p.int8.score - p.fp32.score) / p.fp32.score).toBeLessThan(0.05);
    expect(new Set([p.fp32.threshold, p.fp16.threshold, p.int8.threshold]).size).toBe(3);
  });

  it('gateway without sharp: raw pixels still score; an encoded image names the missing package', async () => {
    const sharpDir = join(gateway.dir, 'node_modules', 'sharp');
    const hidden = join(gateway.dir, 'node_modules', '.sharp-hidden');
    await cp(sharpDir, hidden, { recursive: true });
    await rm(sharpDir, { recursive: true });
    try {
      const r = JSON.parse(await runIn(gateway.dir, 'raw-only.mjs')) as { raw: number; error: string; missing: string; message: string };
      expect(Math.abs(r.raw - gatewayScores.raw)).toBeLessThanOrEqual(1e-6);
      expect(r.error).toBe('MissingDependencyError');
      expect(r.missing).toBe('sharp');
      expect(r.message).toMatch(/npm install sharp/);
    } finally {
      await cp(hidden, sharpDir, { recursive: true });
      await rm(hidden, { recursive: true });
    }
  });

  it('toolkit: installs with no env var (opt-in backends absent), one copy of the runtime, a working CLI', async () => {
    const fp = await footprint(toolkit.dir);
    const ortNode = fp.packages.includes('onnxruntime-node');
    console.log(`toolkit node_modules: ${(fp.bytes / 2 ** 20).toFixed(1)} MiB, ${fp.packages.length} packages, ${(toolkit.ms / 1000).toFixed(1)} s; onnxruntime-node ${ortNode ? 'installed' : 'dropped by npm (its CUDA download failed; optional)'}`);
    expect(fp.packages.filter((p) => /^@tensorflow\/tfjs-node|^webgpu$/.test(p))).toEqual([]);
    expect(fp.packages.filter((p) => p === '@ganomaly-edge/runtime')).toHaveLength(1);
    expect(existsSync(join(toolkit.dir, 'node_modules', 'ganomaly-edge', 'node_modules', '@ganomaly-edge'))).toBe(false);
    const bin = join(toolkit.dir, 'node_modules', '.bin', 'ganomaly');
    expect(await runIn(toolkit.dir, bin, ['--help'])).toMatch(/train .*\n.*export/);
    expect(await runIn(toolkit.dir, bin, ['train', '--help'])).toMatch(/--backend/);
    const model = join(gateway.dir, 'node_modules', '@ganomaly-edge', 'model-fashion-mnist-trouser');
    const sample = join(model, 'samples', SAMPLE);
    if (ortNode) {
      const out = await runIn(toolkit.dir, bin, ['score', '--model', model, '--json', '--providers', 'cpu', '--quiet', sample]);
      const line = JSON.parse(out.trim().split('\n')[0]!) as { score: number };
      expect(Math.abs(line.score - gatewayScores.scores[SAMPLE]!)).toBeLessThanOrEqual(1e-6);
    } else {
      const err = await runIn(toolkit.dir, bin, ['score', '--model', model, sample]).then(() => null, (e: { stderr: string; code: number }) => e);
      expect(err?.code).toBe(1);
      expect(err?.stderr.trim().split('\n')).toHaveLength(1);
      expect(err?.stderr).toMatch(/onnxruntime-node is not installed.*onnxruntime-node-install=skip/);
      // The gateway needs onnxruntime-node: npm dropped it with it, and `ganomaly serve` says so in one line.
      expect(fp.packages).not.toContain('@ganomaly-edge/gateway');
      const serveErr = await runIn(toolkit.dir, bin, ['serve', '--model', model]).then(() => null, (e: { stderr: string; code: number }) => e);
      expect(serveErr?.code).toBe(1);
      expect(serveErr?.stderr.trim().split('\n')).toHaveLength(1);
      expect(serveErr?.stderr).toMatch(/MissingDependencyError: @ganomaly-edge\/gateway is not installed.*onnxruntime-node-install=skip/);
      expect(await runIn(toolkit.dir, bin, ['serve', '--help'])).toMatch(/^Usage: ganomaly serve[^]*@ganomaly-edge\/gateway is not installed/);
    }
  });

  it('toolkit + onnxruntime-node: the installed `ganomaly serve` decodes in its worker threads, scores as the gateway does, answers its health port', async () => {
    // What a server user adds to the toolkit: onnxruntime-node, with the README's .npmrc line.
    await writeFile(join(toolkit.dir, '.npmrc'), 'onnxruntime-node-install=skip\n');
    await addPackages(toolkit.dir, ['onnxruntime-node@1.30.0']);
    const bin = join(toolkit.dir, 'node_modules', '.bin', 'ganomaly');
    const model = join(gateway.dir, 'node_modules', '@ganomaly-edge', 'model-fashion-mnist-trouser');
    // npm brought back the optional gateway once onnxruntime-node installed.
    expect(existsSync(join(toolkit.dir, 'node_modules', '@ganomaly-edge', 'gateway', 'package.json'))).toBe(true);
    expect(await runIn(toolkit.dir, bin, ['serve', '--help'])).toMatch(/^Usage: ganomaly serve --model[^]*--no-health-port/);
    const child = spawn(bin, ['serve', '--model', model, '--port', '0', '--providers', 'cpu', '--quiet'], { cwd: toolkit.dir, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const listening = await logLine<{ url: string; healthUrl: string }>(child, child.stdout!, 'listening', () => stderr);
      const png = await readFile(join(model, 'samples', SAMPLE));
      const r = await fetch(`${listening.url}/v1/score`, { method: 'POST', body: new Uint8Array(png), headers: { 'content-type': 'image/png' } });
      expect(r.status).toBe(200);
      expect(Math.abs(((await r.json()) as { score: number }).score - gatewayScores.scores[SAMPLE]!)).toBeLessThanOrEqual(1e-6);
      expect((await fetch(`${listening.healthUrl}/healthz`)).status).toBe(200);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(stderr).toBe('');
  });

  it('strict TypeScript consumers compile against the packed types (bundler and nodenext)', async () => {
    expect(await typecheck(join(web.dir, 'tsconfig.json'))).toBe('');
    const types = ['--typeRoots', join(REPO, 'node_modules', '@types'), '--types', 'node'];
    expect(await typecheck(join(gateway.dir, 'tsconfig.node.json'), types)).toBe('');
    // The toolkit's own subpaths, under nodenext.
    await cp(join(FIXTURES, 'consumer-toolkit.mts'), join(toolkit.dir, 'consumer-toolkit.mts'));
    await cp(join(FIXTURES, 'tsconfig.toolkit.json'), join(toolkit.dir, 'tsconfig.toolkit.json'));
    expect(await typecheck(join(toolkit.dir, 'tsconfig.toolkit.json'), types)).toBe('');
  });

  describe.skipIf(!HAVE_CHROMIUM && !REQUIRE_BROWSER)('web app in headless Chromium', () => {
    let context: BrowserContext;
    let profile: string;
    const builds: Record<string, string> = {};

    beforeAll(async () => {
      if (!HAVE_CHROMIUM) throw new Error(`GANOMALY_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);
      builds.vite = await buildWithVite(web.dir);
      builds.esbuild = await buildWithEsbuild(web.dir);
      profile = await mkdtemp(join(tmpdir(), 'ganomaly-chromium-'));
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS] });
    }, 300_000);

    afterAll(async () => {
      await context?.close();
      if (profile) await rm(profile, { recursive: true, force: true });
    });

    it('the Vite output holds one copy of each ORT wasm it can use and no Node or training code', async () => {
      const files = await listOutput(builds.vite!);
      const wasm = files.filter((f) => f.path.endsWith('.wasm'));
      console.log(`vite output: ${files.map((f) => `${f.path} ${(f.bytes / 1024).toFixed(0)} KiB`).join(', ')}`);
      expect(wasm.map((f) => f.path.replace(/-[\w-]{8}\.wasm$/, '.wasm')).sort()).toEqual(['assets/ort-wasm-simd-threaded.asyncify.wasm', 'assets/ort-wasm-simd-threaded.wasm']);
      for (const f of files.filter((x) => x.path.endsWith('.js'))) {
        const js = await readFile(join(builds.vite!, f.path), 'utf8');
        expect(js, f.path).not.toMatch(/from\s*["']node:|@tensorflow|onnxruntime-node|require\(["']sharp/);
      }
    });

    for (const bundler of ['vite', 'esbuild'] as const) {
      for (const isolated of [true, false]) {
        it(`${bundler}, ${isolated ? 'with' : 'without'} COOP/COEP: default config scores the sample as Node does (≤1e-4), ≤160 KB of JS`, async () => {
          const server = await serveFolder(builds[bundler]!, { isolated });
          const page = await context.newPage();
          const errors: string[] = [];
          page.on('pageerror', (e) => errors.push(e.message));
          try {
            await page.goto(`${server.url}?providers=wasm`);
            await page.waitForFunction(() => (window as { fixtureResult?: unknown }).fixtureResult, null, { timeout: 90_000 });
            const r = await page.evaluate(() => (window as unknown as { fixtureResult: { score?: number; provider?: string; isolated?: boolean; error?: string; ms: number } }).fixtureResult);
            expect(r.error, r.error).toBeUndefined();
            expect(errors).toEqual([]);
            expect(r.provider).toBe('wasm');
            expect(r.isolated).toBe(isolated);
            expect(Math.abs(r.score! - gatewayScores.scores[SAMPLE]!)).toBeLessThanOrEqual(1e-4);
            const js = server.fetched.filter((f) => /\.m?js$/.test(f.path));
            const jsBytes = js.reduce((s, f) => s + f.bytes, 0);
            const jsGzip = js.reduce((s, f) => s + f.gzipBytes, 0);
            const wasm = server.fetched.filter((f) => f.path.endsWith('.wasm')).map((f) => f.path);
            console.log(`${bundler} ${isolated ? 'isolated' : 'not isolated'}: first score in ${r.ms.toFixed(0)} ms; JS ${(jsBytes / 1024).toFixed(1)} KiB (${(jsGzip / 1024).toFixed(1)} KiB gzip) in ${js.length} files; wasm ${wasm.join(', ')}`);
            expect(jsBytes).toBeLessThanOrEqual(160 * 1024);
            expect(jsGzip).toBeLessThanOrEqual(50 * 1024);
            // The WASM-only build: never the WebGPU build's larger binary.
            expect(wasm).toHaveLength(1);
            expect(wasm[0]).toMatch(/ort-wasm-simd-threaded(-[\w-]{8})?\.wasm$/);
          } finally {
            await page.close();
            await server.close();
          }
        }, 120_000);
      }
    }

    for (const bundler of ['vite', 'esbuild'] as const) {
      it(`${bundler}: the FP16 and INT8 pages fetch only their own detector and score as Node does for that variant (≤1e-4)`, async () => {
        const server = await serveFolder(builds[bundler]!, { isolated: true });
        try {
          for (const precision of ['fp16', 'int8'] as const) {
            server.reset();
            const page = await context.newPage();
            await page.goto(`${server.url}?providers=wasm&precision=${precision}`);
            await page.waitForFunction(() => (window as { fixtureResult?: unknown }).fixtureResult, null, { timeout: 90_000 });
            const r = await page.evaluate(() => (window as unknown as { fixtureResult: { score?: number; precision?: string; error?: string } }).fixtureResult);
            await page.close();
            expect(r.error, r.error).toBeUndefined();
            expect(r.precision).toBe(precision);
            expect(Math.abs(r.score! - gatewayScores.byPrecision[precision].score)).toBeLessThanOrEqual(1e-4);
            const onnx = server.fetched.filter((f) => f.path.endsWith('.onnx')).map((f) => f.path);
            expect(onnx).toHaveLength(1);
            expect(onnx[0]).toMatch(new RegExp(`detector[.-]${precision}[^/]*\\.onnx$`));
          }
        } finally {
          await server.close();
        }
      }, 120_000);
    }

    it('a page that trains, exports and scores bundles one copy of the runtime, and runs', async () => {
      const outdir = join(trainer.dir, 'dist-esbuild');
      await cp(join(FIXTURES, 'trainer-app'), trainer.dir, { recursive: true });
      const esbuild = await import('esbuild');
      const r = await esbuild.build({
        absWorkingDir: trainer.dir, entryPoints: ['main.ts'], bundle: true, splitting: true, format: 'esm', platform: 'browser', target: 'es2022',
        minify: true, outdir, metafile: true, logLevel: 'warning',
      });
      const runtimeInputs = Object.keys(r.metafile.inputs).filter((p) => p.includes('@ganomaly-edge/runtime/'));
      expect(runtimeInputs).toEqual(['node_modules/@ganomaly-edge/runtime/dist/web.js']);
      // The text as well: one definition of the runtime's error codes across every emitted chunk.
      let codes = 0;
      for (const f of Object.keys(r.metafile.outputs).filter((p) => p.endsWith('.js'))) codes += (await readFile(join(trainer.dir, f), 'utf8')).split('"manifest_invalid"').length - 1;
      expect(codes).toBe(1);
      await writeFile(join(outdir, 'index.html'), (await readFile(join(trainer.dir, 'index.html'), 'utf8')).replace('./main.ts', './main.js'));
      for (const f of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs']) {
        const src = join(trainer.dir, 'node_modules', 'onnxruntime-web', 'dist', f);
        if (existsSync(src)) await cp(src, join(outdir, f));
      }
      const server = await serveFolder(outdir, { isolated: false });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      try {
        await page.goto(server.url);
        await page.waitForFunction(() => (window as { fixtureResult?: unknown }).fixtureResult, null, { timeout: 120_000 });
        const res = await page.evaluate(() => (window as unknown as { fixtureResult: { scores?: number[]; threshold?: number; sameErrorClass?: boolean; tools?: Record<string, string>; error?: string } }).fixtureResult);
        expect(res.error, res.error).toBeUndefined();
        expect(errors).toEqual([]);
        expect(res.scores).toHaveLength(4);
        for (const x of res.scores!) expect(Number.isFinite(x) && x >= 0).toBe(true);
        expect(Number.isFinite(res.threshold)).toBe(true);
        expect(res.sameErrorClass).toBe(true);
        expect(res.tools!['ganomaly-edge']).toBe(JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')).version);
      } finally {
        await page.close();
        await server.close();
      }
    }, 240_000);

    for (const bundler of ['vite', 'esbuild'] as const) {
      it(`${bundler}: the runtime's default providers (webgpu → wasm) fall back to WASM in the WebGPU build and score the same`, async () => {
        const server = await serveFolder(builds[bundler]!, { isolated: true });
        const page = await context.newPage();
        try {
          await page.goto(`${server.url}?providers=webgpu,wasm`);
          await page.waitForFunction(() => (window as { fixtureResult?: unknown }).fixtureResult, null, { timeout: 90_000 });
          const r = await page.evaluate(() => (window as unknown as { fixtureResult: { score?: number; provider?: string; error?: string } }).fixtureResult);
          expect(r.error, r.error).toBeUndefined();
          expect(r.provider).toBe('wasm'); // no adapter without --enable-unsafe-webgpu here
          expect(Math.abs(r.score! - gatewayScores.scores[SAMPLE]!)).toBeLessThanOrEqual(1e-4);
          const wasm = server.fetched.filter((f) => f.path.endsWith('.wasm')).map((f) => f.path);
          expect(wasm).toHaveLength(1);
          expect(wasm[0]).toMatch(/ort-wasm-simd-threaded\.asyncify(-[\w-]{8})?\.wasm$/);
        } finally {
          await page.close();
          await server.close();
        }
      }, 120_000);
    }
  });
});
