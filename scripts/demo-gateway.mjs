#!/usr/bin/env node
// `npm run demo:gateway`: the camera gateway on a fresh clone. Makes the "conveyor" camera
// (scripts/make-conveyor.ts: the prebuilt model's test-split items passing under a camera, a
// Trouser now and then) if it is missing, runs `ganomaly-gateway watch` on it with the prebuilt
// model, prints each anomaly event as it is published, writes snapshots, stops the gateway when
// the video ends (SIGTERM, as an operator would), and compares the events with what was drawn.
// Plain JavaScript on purpose: it runs after `npm ci` with nothing but Node (and the system ffmpeg).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GATEWAY = path.join(ROOT, 'packages', 'gateway', 'dist', 'cli', 'index.js');
const MODEL = path.join(ROOT, 'models', 'fashion-mnist-trouser');
const CONVEYOR = path.join(ROOT, '.tmp', 'conveyor');
const OUT = path.join(ROOT, 'demo-output', 'gateway');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
}

if (spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).stdout.trim() === '') {
  process.stderr.write('demo:gateway: ffmpeg is not installed: apt-get install ffmpeg\n');
  process.exit(1);
}
if (!existsSync(GATEWAY)) run('npm', ['run', 'build']);
if (!existsSync(path.join(CONVEYOR, 'conveyor.mkv'))) {
  run('npx', ['esbuild', 'scripts/make-conveyor.ts', '--bundle', '--platform=node', '--format=esm', '--packages=external', '--outfile=.tmp/make-conveyor.mjs', '--log-level=warning']);
  run(process.execPath, ['.tmp/make-conveyor.mjs', '--model', MODEL, '--out', CONVEYOR]);
}
const truth = JSON.parse(readFileSync(path.join(CONVEYOR, 'truth.json'), 'utf8'));
const { x, y, width, height } = truth.roi;
console.log(`camera: ${path.relative(ROOT, path.join(CONVEYOR, 'conveyor.mkv'))}, ${truth.frames} frames at ${truth.frame.fps} fps, region of interest ${width}×${height} at (${x}, ${y})`);

const child = spawn(process.execPath, [GATEWAY, 'watch', '--name', 'conveyor', '--source', path.join(CONVEYOR, 'conveyor.mkv'), '--model', MODEL,
  '--roi', `${x},${y},${width},${height}`, '--execution-providers', 'cpu', '--snapshots', path.join(OUT, 'snapshots'), '--jsonl', path.join(OUT, 'events.jsonl'),
  '--port', '0', '--health-port', '0'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe'] });
let url = null;
let buffered = '';
child.stderr.on('data', (d) => {
  buffered += d.toString();
  const lines = buffered.split('\n');
  buffered = lines.pop();
  for (const line of lines) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      process.stderr.write(`${line}\n`);
      continue;
    }
    if (e.msg === 'watching') url = e.url;
    if (e.level === 'warn' || e.level === 'error') process.stderr.write(`${e.level}: ${e.msg}${e.reason ? ` (${e.reason})` : ''}\n`);
  }
});
const exited = new Promise((resolve) => child.once('exit', resolve));

// Events as the gateway publishes them (the JSON-lines sink's file), printed as they come.
const events = [];
let shown = 0;
const eventsFile = path.join(OUT, 'events.jsonl');
const show = () => {
  if (!existsSync(eventsFile)) return;
  const lines = readFileSync(eventsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type !== 'state');
  for (const e of lines.slice(shown)) {
    events.push(e);
    const at = e.type === 'end' ? `frames ${e.startFrame}-${e.endFrame}, ${e.reason}` : `frame ${e.frame}`;
    console.log(`${e.type.padEnd(6)} ${e.id.slice(0, 8)}  ${at}  peak score ${e.peakScore.toExponential(3)} (normalised ${e.peakNormalized.toFixed(2)})${e.snapshot ? `  ${path.relative(ROOT, e.snapshot)}` : ''}`);
  }
  shown = lines.length;
};
for (;;) {
  await new Promise((r) => setTimeout(r, 500));
  show();
  const code = await Promise.race([exited, Promise.resolve(undefined)]);
  if (code !== undefined) throw new Error(`the gateway exited (${code}) before the video ended`);
  if (!url) continue;
  const cams = await fetch(`${url}/cameras`).then((r) => r.json(), () => []);
  if (cams[0]?.state === 'ended') break;
}
child.kill('SIGTERM');
const code = await exited;
show();

const starts = events.filter((e) => e.type === 'start');
const anomalous = truth.items.filter((i) => i.abnormal);
const overlaps = (e, i) => e.startFrame <= i.lastFrame + 1 && (e.endFrame ?? Infinity) >= i.firstFrame + 1;
const ends = events.filter((e) => e.type === 'end');
const found = anomalous.filter((i) => ends.some((e) => overlaps(e, i)));
const falseAlarms = ends.filter((e) => !anomalous.some((i) => overlaps(e, i)));
console.log(`\n${starts.length} event(s); ${found.length} of ${anomalous.length} ${truth.items.find((i) => i.abnormal)?.className ?? 'anomalous'} items caught, ${falseAlarms.length} event(s) on normal items`);
console.log(`events: ${path.relative(ROOT, eventsFile)}; snapshots: ${path.relative(ROOT, path.join(OUT, 'snapshots'))}; gateway exit code ${code}`);
process.exit(code ?? 1);
