// What issue 23's hostile graphs cost when ONNX Runtime is given them directly (the runtime before
// its graph check), against the runtime's refusal now; and what the check costs a real model.
// Each graph is run by plain onnxruntime-node (CPU) in a child process of its own: session
// creation, one batch-1 run, peak RSS (VmHWM); a child still busy after CHILD_TIMEOUT_S is killed.
// Run:
//   npx esbuild bench/untrusted-graphs.ts --bundle --platform=node --format=esm --packages=external \
//     --outfile=.tmp/untrusted-graphs.mjs && node .tmp/untrusted-graphs.mjs
// Writes bench/results/untrusted-graphs.json.
import { spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkGraph } from '../src/runtime/core/graph-check.js';
import { createDetector } from '../src/runtime/node.js';
import { constantOfShapeBomb, convChain, expandAtLoad, folderWithGraph, type HostileGraph } from '../test/helpers/hostile-graphs.js';
import { makeModelFolder } from '../test/helpers/make-model.js';

const CHILD_TIMEOUT_S = 180;

interface OrtResult { createMs?: number; runMs?: number; peakRssMiB?: number; outcome: string }

async function child(file: string): Promise<void> {
  const ort = await import('onnxruntime-node');
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(readFileSync(file), { executionProviders: ['cpu'] });
  const createMs = performance.now() - t0;
  const t1 = performance.now();
  await session.run({ x: new ort.Tensor('float32', new Float32Array(32 * 32), [1, 1, 32, 32]) });
  const runMs = performance.now() - t1;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  process.stdout.write(JSON.stringify({ createMs, runMs, peakRssMiB: hwm ? Number(hwm[1]) / 1024 : undefined, outcome: 'ran' }));
}

function runChild(file: string): Promise<OrtResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), CHILD_TIMEOUT_S * 1000);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(JSON.parse(out) as OrtResult);
      resolve({ outcome: signal === 'SIGKILL' ? `killed after ${CHILD_TIMEOUT_S} s` : `failed (${code ?? signal}): ${err.trim().split('\n').pop()?.slice(0, 160)}` });
    });
  });
}

async function main(): Promise<void> {
  const model = await makeModelFolder();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'untrusted-bench-'));
  const graphs: [string, HostileGraph][] = [
    ['ConstantOfShape [20000, 20000] fp16 → ReduceSum', constantOfShapeBomb(model.manifest)],
    ['Expand to [20000, 20000] (folded at load)', expandAtLoad(model.manifest)],
    ['30 shared-kernel Convs at 8×2048² (allowed ops)', convChain(model.manifest)],
    ['4 Convs at 8×512² (allowed, merely slow)', convChain(model.manifest, 4, 512)],
  ];
  const rows = [];
  for (const [name, g] of graphs) {
    const file = path.join(tmp, `${rows.length}.onnx`);
    await fs.writeFile(file, g.bytes);
    process.stderr.write(`${name}: onnxruntime-node directly …\n`);
    const ort = await runChild(file);
    const dir = await folderWithGraph(model, g);
    const t0 = performance.now();
    let runtime: string;
    try {
      const d = await createDetector({ model: dir, precision: g.precision, executionProviders: ['cpu'], logger: null });
      await d.dispose();
      runtime = 'loaded';
    } catch (e) {
      runtime = `${(e as Error).name} (${(e as { code?: string }).code})`;
    }
    rows.push({ graph: name, bytes: g.bytes.length, ort, runtime, runtimeMs: performance.now() - t0 });
  }
  const shipped = 'models/fashion-mnist-trouser';
  const manifest = JSON.parse(readFileSync(path.join(shipped, 'manifest.json'), 'utf8'));
  const checks = ['detector.onnx', 'detector.fp16.onnx', 'detector.int8.onnx'].map((file) => {
    const bytes = new Uint8Array(readFileSync(path.join(shipped, file)));
    const times = Array.from({ length: 7 }, () => {
      const t0 = performance.now();
      checkGraph(bytes, manifest, file);
      return performance.now() - t0;
    }).sort((a, b) => a - b);
    return { file, bytes: bytes.length, medianCheckMs: times[3]! };
  });

  const f = (x: number | undefined, d = 0) => (x === undefined ? '-' : x.toFixed(d));
  console.log('| graph | bytes | ORT create ms | ORT run ms | ORT peak RSS MiB | ORT outcome | runtime now | runtime ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.graph} | ${r.bytes} | ${f(r.ort.createMs)} | ${f(r.ort.runMs)} | ${f(r.ort.peakRssMiB)} | ${r.ort.outcome} | ${r.runtime} | ${f(r.runtimeMs, 1)} |`);
  console.log('\n| shipped graph | bytes | graph check, median of 7 (ms) |\n|---|---|---|');
  for (const c of checks) console.log(`| ${c.file} | ${c.bytes} | ${c.medianCheckMs.toFixed(1)} |`);
  await fs.mkdir('bench/results', { recursive: true });
  await fs.writeFile('bench/results/untrusted-graphs.json', `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, rows, checks }, null, 2)}\n`);
}

if (process.argv[2] === 'child') await child(process.argv[3]!);
else await main();
