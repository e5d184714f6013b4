// Bundles the real CLI with esbuild (as users get it from tsup) and runs it as a child process, so
// tests see its exit code and exactly what it prints.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident set of the child, in bytes (its own getrusage, printed at exit). */
  maxRss: number;
}

export async function bundleCli(): Promise<{ run(args: string[], timeoutMs?: number): Promise<CliRun>; dispose(): Promise<void> }> {
  // Inside the repository, so the bundle's bare imports (onnxruntime-node, sharp) resolve.
  await mkdir('.tmp', { recursive: true });
  const outdir = await mkdtemp(join('.tmp', 'cli-test-'));
  await build({
    entryPoints: { index: 'src/cli/index.ts' }, bundle: true, splitting: true, format: 'esm', platform: 'node',
    packages: 'external', outdir, logLevel: 'silent',
  });
  const rss = "process.on('exit',()=>process.stderr.write('\\n@maxrss '+process.resourceUsage().maxRSS*1024+'\\n'))";
  return {
    run: async (args, timeoutMs = 60_000) => {
      const r = await runNode(['--import', `data:text/javascript,${encodeURIComponent(rss)}`, join(outdir, 'index.js'), ...args], {
        timeoutMs, what: `ganomaly ${args.join(' ')}`,
      });
      const m = /\n@maxrss (\d+)\n/.exec(r.stderr);
      return { ...r, stderr: r.stderr.replace(/\n?@maxrss \d+\n/, ''), maxRss: m ? Number(m[1]) : NaN };
    },
    dispose: () => rm(outdir, { recursive: true, force: true }),
  };
}

/** Runs `node args…` to completion and collects its output; rejects if it has not exited within timeoutMs (and kills it). */
export function runNode(
  args: string[], opts: { timeoutMs: number; what: string; env?: Record<string, string> },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ? { ...process.env, ...opts.env } : process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.what} did not finish within ${opts.timeoutMs} ms; output: ${stdout.slice(-300)} ${stderr.slice(-300)}`));
    }, opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
