// The camera gateway under a realistic load: N simulated 1280×720 cameras at 5 fps — half of them
// RTSP over TCP from GStreamer's RTSP server (H.264), half H.264 video files looped at their native
// rate — watched by one `watch` with the prebuilt model, for --minutes. Measured after a warm-up:
//   - sampled frames scored (frames ffmpeg delivered vs frames scored; the rest were dropped);
//   - frame-to-result latency (from a frame reaching the gateway to its score): p50, p99, max;
//   - RSS right after the warm-up, at the end and its largest value in between;
//   - CPU per camera: each camera's ffmpeg (from /proc) plus an equal share of the gateway process.
// The RTSP server's own CPU (it encodes) is reported apart: on a real site it is the cameras'.
//
//   npm run bench:gateway -- [--cameras 8] [--minutes 10] [--warmup 60] [--out bench/results/gateway.json]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseWatchConfig } from '../src/gateway/watch/config.js';
import { startWatch } from '../src/gateway/watch/watch.js';

const { values: a } = parseArgs({
  options: {
    cameras: { type: 'string', default: '8' }, minutes: { type: 'string', default: '10' }, warmup: { type: 'string', default: '60' },
    model: { type: 'string', default: 'models/fashion-mnist-trouser' }, out: { type: 'string', default: 'bench/results/gateway.json' },
  },
});
const CAMERAS = Number(a.cameras);
const SECONDS = Number(a.minutes) * 60;
const WARMUP = Number(a.warmup);
const W = 1280;
const H = 720;
const FPS = 5;
const TICKS = 100; // USER_HZ, the unit of /proc/<pid>/stat times on Linux

function procCpuSeconds(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS; // utime + stime, fields 14 and 15
  } catch {
    return null;
  }
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'ganomaly-bench-gateway-'));
let rtsp: ChildProcess | undefined;
try {
  // A 60 s H.264 camera recording (moving test pattern), made here.
  const video = path.join(work, 'camera.mp4');
  const mk = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=${FPS}`, '-t', '60',
    '-c:v', 'libx264', '-preset', 'veryfast', '-g', String(FPS * 2), '-pix_fmt', 'yuv420p', video]);
  if (mk.status !== 0) throw new Error(`ffmpeg could not make the test video: ${mk.stderr}`);
  const nRtsp = Math.floor(CAMERAS / 2);
  const rtspPort = await freePort();
  if (nRtsp > 0) {
    rtsp = spawn('/usr/bin/python3', ['test/fixtures/gateway/rtsp-server.py', String(rtspPort), String(W), String(H), String(FPS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      rtsp!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      rtsp!.once('exit', (c) => reject(new Error(`RTSP server exited (${c})`)));
    });
  }
  const cams = Array.from({ length: CAMERAS }, (_, i) => i < nRtsp
    ? `  - {name: rtsp${i}, source: "rtsp://127.0.0.1:${rtspPort}/cam1", fps: ${FPS}, roi: {x: 280, y: 0, w: 720, h: 720}}`
    : `  - {name: file${i}, source: "${video}", loop: true, fps: ${FPS}, roi: {x: 280, y: 0, w: 720, h: 720}}`);
  const config = parseWatchConfig(`cameras:\n${cams.join('\n')}\nmodel: {folder: ${a.model}, executionProviders: [cpu]}\nsinks: {jsonl: ${path.join(work, 'events.jsonl')}}\nhttp: {port: 0, healthPort: 0}\n`, 'bench.yaml', { baseDir: process.cwd() });

  const latencies: number[] = [];
  let measuring = false;
  const logs: Record<string, unknown>[] = [];
  const watch = await startWatch(config, { log: (e) => logs.push(e), onFrameScored: (_c, ms) => measuring && latencies.push(ms) });
  console.error(`gateway: ${CAMERAS} cameras (${nRtsp} RTSP, ${CAMERAS - nRtsp} files), ${W}×${H} at ${FPS} fps; warm-up ${WARMUP} s, then ${SECONDS} s`);

  const ffmpegCpu = new Map<number, number>(); // pid → last CPU seconds seen
  const cameraCpu = new Map<string, number>(); // camera → ffmpeg CPU seconds accumulated while measuring
  const sampleCpu = () => {
    for (const c of watch.cameras()) {
      if (!c.pid) continue;
      const now = procCpuSeconds(c.pid);
      if (now === null) continue;
      const before = ffmpegCpu.get(c.pid) ?? now;
      ffmpegCpu.set(c.pid, now);
      if (measuring) cameraCpu.set(c.name, (cameraCpu.get(c.name) ?? 0) + (now - before));
    }
  };
  const tick = setInterval(sampleCpu, 1000);
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  sampleCpu();
  measuring = true;
  const start = { cams: watch.cameras(), cpu: process.cpuUsage(), rss: process.memoryUsage.rss(), rtspCpu: rtsp?.pid ? procCpuSeconds(rtsp.pid) ?? 0 : 0, t: performance.now() };
  let rssMax = start.rss;
  const rssTick = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage.rss())), 1000);
  for (let s = 0; s < SECONDS; s += 60) {
    await new Promise((r) => setTimeout(r, Math.min(60, SECONDS - s) * 1000));
    const c = watch.cameras();
    console.error(`  ${Math.min(s + 60, SECONDS)} s: scored ${c.reduce((n, x) => n + x.framesScored, 0)}, dropped ${c.reduce((n, x) => n + x.framesDropped, 0)}, RSS ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MiB`);
  }
  sampleCpu();
  measuring = false;
  clearInterval(tick);
  clearInterval(rssTick);
  const end = { cams: watch.cameras(), cpu: process.cpuUsage(start.cpu), rss: process.memoryUsage.rss(), rtspCpu: rtsp?.pid ? procCpuSeconds(rtsp.pid) ?? 0 : 0, t: performance.now() };
  const wall = (end.t - start.t) / 1000;
  await watch.close();

  const gatewayCpu = (end.cpu.user + end.cpu.system) / 1e6;
  const per = end.cams.map((c) => {
    const s = start.cams.find((x) => x.name === c.name)!;
    const received = c.framesReceived - s.framesReceived;
    const scored = c.framesScored - s.framesScored;
    return {
      camera: c.name, received, scored, dropped: c.framesDropped - s.framesDropped, restarts: c.restarts - s.restarts,
      scoredShare: received ? scored / received : NaN,
      cpuPercent: (100 * ((cameraCpu.get(c.name) ?? 0) + gatewayCpu / end.cams.length)) / wall,
      ffmpegCpuPercent: (100 * (cameraCpu.get(c.name) ?? 0)) / wall,
    };
  });
  const received = per.reduce((n, c) => n + c.received, 0);
  const scored = per.reduce((n, c) => n + c.scored, 0);
  const result = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), Node ${process.versions.node}, no GPU`,
    setup: { cameras: CAMERAS, rtsp: nRtsp, files: CAMERAS - nRtsp, width: W, height: H, fps: FPS, roi: '720×720 → 320×320 view → 32×32 model', model: a.model, warmupSeconds: WARMUP, seconds: Math.round(wall) },
    frames: { received, scored, dropped: per.reduce((n, c) => n + c.dropped, 0), scoredShare: scored / received, expected: Math.round(CAMERAS * FPS * wall) },
    latencyMs: { count: latencies.length, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), max: Math.max(...latencies) },
    rssMiB: { afterWarmup: start.rss / 2 ** 20, end: end.rss / 2 ** 20, max: rssMax / 2 ** 20, growth: (end.rss - start.rss) / 2 ** 20 },
    cpu: { gatewayProcessPercent: (100 * gatewayCpu) / wall, rtspServerPercent: (100 * (end.rtspCpu - start.rtspCpu)) / wall, perCamera: per },
    errors: logs.filter((l) => l.level === 'error').length,
    warnings: logs.filter((l) => l.level === 'warn').map((l) => `${l.camera ?? ''} ${l.msg} ${l.reason ?? l.error ?? ''}`.trim()).slice(0, 20),
  };
  await writeFile(a.out!, `${JSON.stringify(result, null, 2)}\n`);
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log(`\ngateway: ${CAMERAS} cameras ${W}×${H} @ ${FPS} fps (${nRtsp} RTSP, ${CAMERAS - nRtsp} files), ${f(wall / 60)} min after a ${WARMUP} s warm-up`);
  console.log('| camera | received | scored | dropped | restarts | scored share | CPU (ffmpeg + share) |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const c of per) console.log(`| ${c.camera} | ${c.received} | ${c.scored} | ${c.dropped} | ${c.restarts} | ${f(100 * c.scoredShare, 2)} % | ${f(c.cpuPercent)} % (${f(c.ffmpegCpuPercent)} %) |`);
  console.log(`all: ${scored}/${received} frames scored (${f(100 * result.frames.scoredShare, 2)} %; ${result.frames.expected} expected at ${FPS} fps)`);
  console.log(`frame → result: p50 ${f(result.latencyMs.p50)} ms, p99 ${f(result.latencyMs.p99)} ms, max ${f(result.latencyMs.max)} ms over ${latencies.length} frames`);
  console.log(`RSS: ${f(result.rssMiB.afterWarmup)} MiB after warm-up, ${f(result.rssMiB.end)} MiB at the end (max ${f(result.rssMiB.max)}, growth ${f(result.rssMiB.growth)} MiB)`);
  console.log(`CPU: gateway process ${f(result.cpu.gatewayProcessPercent)} %, RTSP server (the cameras' side) ${f(result.cpu.rtspServerPercent)} %`);
  console.log(`wrote ${a.out}`);
} finally {
  rtsp?.kill('SIGTERM');
  if (rtsp) await once(rtsp, 'exit').catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
