// What users install, reproduced: pack every package of the workspace, install tarballs into fresh
// folders outside the repository (no .npmrc of ours, no env var), and measure what landed there.
// Shared by test/e2e/packages.test.ts and bench/packages.ts.
import { execFile } from 'node:child_process';
import { copyFile, cp, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root: the nearest folder above this module (or its bundle) whose package.json is the toolkit's. */
function findRepo(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'ganomaly-edge') return dir;
    const up = dirname(dir);
    if (up === dir) return resolve('.');
    dir = up;
  }
}

export const REPO = findRepo();

export const PACKAGES = {
  toolkit: 'ganomaly-edge',
  runtime: '@ganomaly-edge/runtime',
  browser: '@ganomaly-edge/browser',
  model: '@ganomaly-edge/model-fashion-mnist-trouser',
  gateway: '@ganomaly-edge/gateway',
} as const;

export type PackageKey = keyof typeof PACKAGES;

export interface Packed {
  name: string;
  tarball: string;
  /** Bytes of the .tgz. */
  size: number;
  unpackedSize: number;
  files: string[];
  /** The packed package.json's scripts (an install hook here runs in every user's install). */
  scripts: Record<string, string>;
}

/**
 * The environment a user's shell has: none of the install switches this repository sets for its own
 * development (ONNXRUNTIME_NODE_INSTALL, npm_config_* from a parent `npm test`).
 */
export function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|ONNXRUNTIME_NODE_INSTALL|INIT_CWD$)/i.test(k)) continue;
    env[k] = v;
  }
  return env;
}

/** `npm pack` of the toolkit, the runtime, the browser, gateway and model packages (dist/ must be built). */
export async function packAll(dest: string): Promise<Record<PackageKey, Packed>> {
  await mkdir(dest, { recursive: true });
  const { stdout } = await run('npm', ['pack', '--workspaces', '--include-workspace-root', '--json', '--pack-destination', dest], {
    cwd: REPO, env: userEnv(), maxBuffer: 64 << 20,
  });
  const list = JSON.parse(stdout) as { name: string; filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const out: Partial<Record<PackageKey, Packed>> = {};
  for (const [key, name] of Object.entries(PACKAGES) as [PackageKey, string][]) {
    const p = list.find((x) => x.name === name);
    if (!p) throw new Error(`npm pack produced no ${name}`);
    const tarball = join(dest, p.filename);
    const { stdout: pj } = await run('tar', ['-xzOf', tarball, 'package/package.json']);
    out[key] = {
      name, tarball, size: p.size, unpackedSize: p.unpackedSize,
      files: p.files.map((f) => f.path),
      scripts: (JSON.parse(pj) as { scripts?: Record<string, string> }).scripts ?? {},
    };
  }
  return out as Record<PackageKey, Packed>;
}

export interface Install {
  dir: string;
  ms: number;
  output: string;
}

/**
 * A fresh app folder with `deps` installed by `npm install --prefer-offline` (the local npm cache
 * first, the registry only for what it lacks). `npmrc` lines go into the app's own .npmrc, as a
 * user would write them; nothing else of this repository's configuration applies. `overrides`
 * stand in for the registry for packages of ours that another package depends on optionally:
 * naming their tarball on the command line would make them the app's own (required) dependency.
 */
export async function freshInstall(dir: string, deps: string[], npmrc: string[] = [], overrides: Record<string, string> = {}): Promise<Install> {
  await mkdir(dir, { recursive: true });
  const pkg = { name: 'fixture-app', private: true, type: 'module', ...(Object.keys(overrides).length > 0 ? { overrides } : {}) };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  if (npmrc.length > 0) await writeFile(join(dir, '.npmrc'), `${npmrc.join('\n')}\n`);
  const t0 = performance.now();
  const { stdout, stderr } = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', ...deps], {
    cwd: dir, env: userEnv(), maxBuffer: 64 << 20, timeout: 600_000,
  });
  return { dir, ms: performance.now() - t0, output: stdout + stderr };
}

/** Adds packages to an installed app folder. */
export async function addPackages(dir: string, deps: string[]): Promise<void> {
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', ...deps], {
    cwd: dir, env: userEnv(), maxBuffer: 64 << 20, timeout: 600_000,
  });
}

export interface Footprint {
  /** Bytes of every file under node_modules (apparent size, symlinks not followed). */
  bytes: number;
  /** Installed packages, by name (node_modules/<name> and nested node_modules). */
  packages: string[];
}

export async function footprint(dir: string): Promise<Footprint> {
  const packages = new Set<string>();
  let bytes = 0;
  async function walk(p: string, parentIsNodeModules: boolean): Promise<void> {
    for (const e of await readdir(p, { withFileTypes: true })) {
      const full = join(p, e.name);
      if (e.isDirectory()) {
        if (parentIsNodeModules && !e.name.startsWith('.')) {
          if (e.name.startsWith('@')) {
            for (const s of await readdir(full, { withFileTypes: true })) if (s.isDirectory() || s.isSymbolicLink()) packages.add(`${e.name}/${s.name}`);
          } else {
            packages.add(e.name);
          }
        }
        await walk(full, e.name === 'node_modules');
      } else if (e.isFile()) {
        bytes += (await lstat(full)).size;
      }
    }
  }
  await walk(join(dir, 'node_modules'), true);
  return { bytes, packages: [...packages].sort() };
}

/** Packages of ours and others that have install scripts in an installed folder. */
export async function installScripts(dir: string, names: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const name of names) {
    const pj = JSON.parse(await readFile(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    out[name] = Object.keys(pj.scripts ?? {}).filter((s) => /^(pre|post)?install$/.test(s));
  }
  return out;
}

export const MiB = 1024 * 1024;

/**
 * The toolkit's optional @ganomaly-edge/gateway, resolved to its packed tarball as the registry
 * would resolve it (see freshInstall's `overrides`).
 */
export function gatewayOverride(packed: Record<PackageKey, Packed>): Record<string, string> {
  return { [PACKAGES.gateway]: `file:${packed.gateway.tarball}` };
}

/** Builds the fixture page in `appDir` with the repository's Vite (the app itself installs no build tool). */
export async function buildWithVite(appDir: string): Promise<string> {
  await run(process.execPath, [join(REPO, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { cwd: appDir, env: userEnv(), maxBuffer: 16 << 20 });
  return join(appDir, 'dist-vite');
}

/**
 * Builds the fixture page with esbuild, as the runtime README says: code splitting on (each ORT
 * build is its own chunk), and the files ORT and the model package resolve with
 * `new URL(…, import.meta.url)` copied next to the chunks, since esbuild does not emit them.
 */
export async function buildWithEsbuild(appDir: string): Promise<string> {
  const esbuild = await import('esbuild');
  const outdir = join(appDir, 'dist-esbuild');
  await esbuild.build({
    absWorkingDir: appDir,
    entryPoints: ['main.ts'],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    outdir,
    logLevel: 'warning',
  });
  const html = (await readFile(join(appDir, 'index.html'), 'utf8')).replace('./main.ts', './main.js');
  await writeFile(join(outdir, 'index.html'), html);
  const ortDist = join(appDir, 'node_modules', 'onnxruntime-web', 'dist');
  const model = join(appDir, 'node_modules', '@ganomaly-edge', 'model-fashion-mnist-trouser');
  const copies: [string, string][] = [
    [join(ortDist, 'ort-wasm-simd-threaded.wasm'), 'ort-wasm-simd-threaded.wasm'],
    [join(ortDist, 'ort-wasm-simd-threaded.asyncify.wasm'), 'ort-wasm-simd-threaded.asyncify.wasm'],
    [join(model, 'manifest.json'), 'manifest.json'],
    [join(model, 'detector.onnx'), 'detector.onnx'],
    [join(model, 'detector.fp16.onnx'), 'detector.fp16.onnx'],
    [join(model, 'detector.int8.onnx'), 'detector.int8.onnx'],
  ];
  for (const [from, to] of copies) await copyFile(from, join(outdir, to));
  await cp(join(appDir, 'public'), outdir, { recursive: true });
  return outdir;
}

/** Every file of a built page, with its size. */
export async function listOutput(dir: string): Promise<{ path: string; bytes: number }[]> {
  const out: { path: string; bytes: number }[] = [];
  async function walk(p: string, rel: string): Promise<void> {
    for (const e of await readdir(p, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(p, e.name), `${rel}${e.name}/`);
      else out.push({ path: `${rel}${e.name}`, bytes: (await lstat(join(p, e.name))).size });
    }
  }
  await walk(dir, '');
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Runs a script (or a bin) in an app folder with the user's environment; resolves to stdout. */
export async function runIn(dir: string, file: string, args: string[] = []): Promise<string> {
  const { stdout } = await run(file.endsWith('.mjs') || file.endsWith('.js') ? process.execPath : file, file.endsWith('.mjs') || file.endsWith('.js') ? [file, ...args] : args, {
    cwd: dir, env: userEnv(), maxBuffer: 16 << 20, timeout: 300_000,
  });
  return stdout;
}

/** The repository's TypeScript compiler on a fixture project; resolves to its output ('' when clean). */
export async function typecheck(project: string, extra: string[] = []): Promise<string> {
  try {
    await run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, ...extra], { env: userEnv(), maxBuffer: 16 << 20 });
    return '';
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    return `${x.stdout ?? ''}${x.stderr ?? ''}` || x.message;
  }
}
