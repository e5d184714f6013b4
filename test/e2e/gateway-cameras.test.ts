// watch's input side with real processes: ffmpeg reading files, a GStreamer RTSP server over TCP,
// an HTTP server that serves HTML. Every server runs on 127.0.0.1 on a free port and is stopped by
// this file. Skipped (with a message) only when ffmpeg, or for RTSP GStreamer's RTSP server, is not
// installed, unless GANOMALY_REQUIRE_GATEWAY=1.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Camera, findFfmpeg, type CameraOptions, type Frame, type SourceState, type StateChange } from '../../src/gateway/watch/index.js';

const required = process.env.GANOMALY_REQUIRE_GATEWAY === '1';
const ffmpegPath = await findFfmpeg().catch(() => null);
const gstRtsp = (() => {
  try {
    execFileSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!ffmpegPath && !required) console.warn('gateway-cameras: SKIPPED, ffmpeg is not installed (apt-get install ffmpeg); GANOMALY_REQUIRE_GATEWAY=1 makes this a failure');
if (ffmpegPath && !gstRtsp && !required) {
  console.warn('gateway-cameras: RTSP test SKIPPED, GStreamer RTSP server missing (apt-get install gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly); GANOMALY_REQUIRE_GATEWAY=1 makes this a failure');
}
const RTSP_SERVER = fileURLToPath(new URL('../fixtures/gateway/rtsp-server.py', import.meta.url));

let dir: string;
const cameras: Camera[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function ffmpeg(...args: string[]): void {
  execFileSync(ffmpegPath!, ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A camera with its state history, its frames pulled by a consumer that keeps up. */
function watch(o: Partial<CameraOptions> & { source: string }): { cam: Camera; states: StateChange[]; frames: Frame[]; done: Promise<void> } {
  const cam = new Camera({ id: `cam${cameras.length}`, width: 32, height: 24, pixelFormat: 'gray', backoff: { baseMs: 100, maxMs: 400 }, killGraceMs: 1000, ...o });
  cameras.push(cam);
  const states: StateChange[] = [];
  const frames: Frame[] = [];
  cam.on('state', (s) => states.push(s));
  cam.start();
  const done = (async () => {
    for await (const f of cam.frames()) frames.push(f);
  })();
  return { cam, states, frames, done };
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Child processes of this process named ffmpeg (a zombie counts: it was not reaped). */
function ffmpegChildren(): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm === 'ffmpeg') out.push(Number(p));
    } catch {
      // exited while listing
    }
  }
  return out;
}

const oneLine = (s: string | null) => expect(s ?? '').not.toMatch(/[\n\r\x1b]/);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gw-cameras-'));
});
afterAll(async () => {
  await Promise.all(cameras.map((c) => c.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!ffmpegPath && !required)('cameras through ffmpeg', () => {
  it('a file source gives frames of the fixed size whose content is the video (a square in exactly the frames it was drawn in)', async () => {
    // 12 frames at 5 fps, 64×48, background 40, a 16×16 square of 220 at x 40-55, y 16-31 in frames 3, 4, 5 and 9.
    const drawn = new Set([3, 4, 5, 9]);
    for (let k = 0; k < 12; k++) {
      const px = Buffer.alloc(64 * 48, 40);
      if (drawn.has(k)) for (let y = 16; y < 32; y++) px.fill(220, y * 64 + 40, y * 64 + 56);
      await sharp(px, { raw: { width: 64, height: 48, channels: 1 } }).png().toFile(path.join(dir, `sq${String(k).padStart(3, '0')}.png`));
    }
    const video = path.join(dir, 'square.mkv');
    ffmpeg('-framerate', '5', '-i', path.join(dir, 'sq%03d.png'), '-c:v', 'ffv1', video); // lossless
    // The right half, scaled by 2 to 16×24: the square lands at x 4-11, y 8-15.
    const { cam, states, frames, done } = watch({ source: video, fps: 5, realtime: true, roi: { x: 32, y: 0, width: 32, height: 48 }, width: 16, height: 24 });
    await done;
    expect(cam.state).toBe('ended');
    expect(states.map((s) => s.state)).toEqual(['connecting', 'streaming', 'ended']);
    expect(cam.stats.framesReceived).toBe(12);
    expect(cam.stats.framesDropped + frames.length).toBe(12);
    for (const f of frames) expect(f).toMatchObject({ width: 16, height: 24, channels: 1 });
    for (const f of frames) expect(f.data.length).toBe(16 * 24);
    const inside = (f: Frame) => {
      let s = 0;
      for (let y = 9; y < 15; y++) for (let x = 5; x < 11; x++) s += f.data[y * 16 + x]!;
      return s / 36;
    };
    for (const f of frames) {
      const index = f.seq - 1;
      if (drawn.has(index)) expect(inside(f), `frame ${index}`).toBeGreaterThan(200);
      else expect(inside(f), `frame ${index}`).toBeLessThan(60);
    }
    expect(frames.filter((f) => drawn.has(f.seq - 1)).length).toBeGreaterThan(0);
  });

  it('a resolution change mid-stream keeps every frame at the fixed size, uncorrupted', async () => {
    // An MJPEG stream (what many IP cameras send) whose frames go from 64×48 to 160×120 half way.
    for (const [name, size, grey] of [['small', '64x48', 50], ['large', '160x120', 200]] as const) {
      ffmpeg('-f', 'lavfi', '-i', `color=c=0x${grey.toString(16).repeat(3)}:s=${size}:r=25`, '-frames:v', '5', '-q:v', '2', '-f', 'mjpeg', path.join(dir, `${name}.mjpeg`));
    }
    const mixed = path.join(dir, 'mixed.mjpeg');
    await writeFile(mixed, Buffer.concat([readFileSync(path.join(dir, 'small.mjpeg')), readFileSync(path.join(dir, 'large.mjpeg'))]));
    const { cam, frames, done } = watch({ source: mixed, fps: 25, realtime: true });
    await done;
    expect(cam.state).toBe('ended');
    expect(cam.stats.framesReceived).toBe(10);
    const levels = frames.map((f) => {
      expect(f.data.length).toBe(32 * 24);
      const min = Math.min(...f.data);
      const max = Math.max(...f.data);
      expect(max - min, `frame ${f.seq} is one flat grey`).toBeLessThanOrEqual(6);
      return Math.abs(min - 50) <= 6 ? 'small' : Math.abs(min - 200) <= 6 ? 'large' : `other ${min}`;
    });
    expect(levels.every((l) => l === 'small' || l === 'large')).toBe(true);
    expect(levels).toContain('small');
    expect(levels).toContain('large');
  });

  it('a consumer slower than the camera gets the newest frame; the ones it missed are dropped and counted, not queued', async () => {
    const fast = path.join(dir, 'fast.mkv');
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=25', '-frames:v', '50', '-c:v', 'ffv1', fast);
    // Not paced: ffmpeg delivers the 50 frames as fast as it decodes them.
    const cam = new Camera({ id: 'slowconsumer', source: fast, fps: 25, width: 32, height: 24, pixelFormat: 'gray' });
    cameras.push(cam);
    cam.start();
    const seqs: number[] = [];
    for await (const f of cam.frames()) {
      seqs.push(f.seq);
      await sleep(100); // a scorer busy with each frame
    }
    expect(cam.stats.framesReceived).toBe(50);
    expect(cam.stats.framesDropped).toBeGreaterThan(0);
    expect(seqs.length + cam.stats.framesDropped).toBe(50);
    expect(seqs.at(-1)).toBe(50);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
  });

  it('no ffmpeg at the configured path: offline, one line naming apt-get install ffmpeg', async () => {
    const { cam, states } = watch({ source: path.join(dir, 'square.mkv'), ffmpegPath: path.join(dir, 'no-such-ffmpeg') });
    await waitFor('offline', () => cam.state === 'offline', 10_000);
    expect(cam.reason).toMatch(/^ffmpeg not found at .*no-such-ffmpeg .*apt-get install ffmpeg/);
    oneLine(cam.reason);
    expect(states.find((s) => s.state === 'offline')?.error?.code).toBe('ffmpeg_not_found');
    await cam.stop();
  });

  it('an unreachable camera (a closed port): offline with the reason, reconnecting with backoff', async () => {
    const port = await freePort();
    const { cam, states } = watch({ source: `rtsp://127.0.0.1:${port}/cam1`, timeoutMs: 2000 });
    await waitFor('two reconnects', () => cam.stats.restarts >= 2, 20_000);
    expect(cam.state === 'offline' || cam.state === 'connecting').toBe(true);
    const offline = states.filter((s) => s.state === 'offline');
    expect(offline.length).toBeGreaterThanOrEqual(2);
    for (const s of offline) {
      expect(s.reason).toMatch(/^ffmpeg exited with code \d+: .*Connection refused/);
      oneLine(s.reason);
      expect(s.error?.code).toBe('camera_source_failed');
    }
    expect(states.some((s) => s.state === 'streaming')).toBe(false);
    await cam.stop();
  });

  it('a URL that is not video (an HTTP server answering HTML): offline with one line of reason', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><body><h1>Camera login</h1><p>Please sign in.</p></body></html>\n'.repeat(20));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as net.AddressInfo;
      const { cam } = watch({ source: `http://127.0.0.1:${port}/video.mjpg`, timeoutMs: 2000 });
      await waitFor('offline', () => cam.state === 'offline', 20_000);
      expect(cam.reason).toMatch(/^ffmpeg exited with code \d+: http:\/\/127\.0\.0\.1:\d+\/video\.mjpg: Invalid data found when processing input$/);
      oneLine(cam.reason);
      expect(cam.stats.framesReceived).toBe(0);
      await cam.stop();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('garbage bytes in a file: offline with one line of reason', async () => {
    const garbage = path.join(dir, 'garbage.mkv');
    const bytes = Buffer.alloc(64 * 1024);
    let x = 12345;
    for (let i = 0; i < bytes.length; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    await writeFile(garbage, bytes);
    const { cam } = watch({ source: garbage });
    await waitFor('offline', () => cam.state === 'offline', 20_000);
    expect(cam.reason).toMatch(/^ffmpeg exited with code \d+: .*Invalid data found when processing input/);
    oneLine(cam.reason);
    await cam.stop();
    expect(cam.state).toBe('stopped');
  });
});

describe.skipIf((!ffmpegPath || !gstRtsp) && !required)('RTSP over TCP from a real server', () => {
  let server: ChildProcess | null = null;
  const startServer = async (port: number): Promise<ChildProcess> => {
    for (let attempt = 0; ; attempt++) {
      const child = spawn('/usr/bin/python3', [RTSP_SERVER, String(port), '320', '240', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const closed = new Promise<void>((r) => child.once('close', () => r()));
      const ready = await Promise.race([
        (async () => {
          await waitFor('the RTSP server', () => out.includes('ready'), 15_000);
          return true;
        })(),
        closed.then(() => false),
      ]);
      if (ready) return child;
      // The port can stay busy for a moment after the previous server died.
      if (attempt >= 20) throw new Error(`RTSP server did not start: ${err}`);
      await sleep(250);
    }
  };
  const killServer = async (child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((r) => child.once('close', () => r()));
    process.kill(child.pid!, signal);
    await closed;
  };
  afterAll(async () => {
    if (server) await killServer(server);
  });

  it('server stopped mid-stream: stalled → offline, streaming again when it is back on the same port; stop() leaves no fd or process', async () => {
    const port = await freePort();
    server = await startServer(port);
    const fdsBefore = openFds();
    const childrenBefore = ffmpegChildren();
    const { cam, states, frames } = watch({ source: `rtsp://127.0.0.1:${port}/cam1`, fps: 5, timeoutMs: 2000, stallTimeoutMs: 2000, startTimeoutMs: 15_000 });
    await waitFor('streaming with 5 frames', () => cam.state === 'streaming' && cam.stats.framesReceived >= 5, 30_000);
    expect(frames[0]).toMatchObject({ width: 32, height: 24, channels: 1 });
    expect(frames[0]!.data.length).toBe(32 * 24);
    // Frozen, as a camera that loses power or network sends nothing and closes nothing.
    process.kill(server.pid!, 'SIGSTOP');
    await waitFor('stalled', () => cam.state === 'stalled', 15_000);
    await waitFor('offline', () => cam.state === 'offline', 30_000);
    const seen = (s: SourceState) => states.findIndex((c) => c.state === s);
    expect(seen('stalled')).toBeGreaterThan(seen('streaming'));
    expect(states.findIndex((c, i) => i > seen('stalled') && c.state === 'offline')).toBeGreaterThan(seen('stalled'));
    expect(states[seen('stalled')]!.error?.code).toBe('camera_stalled');
    oneLine(cam.reason);
    await killServer(server);
    const before = cam.stats.framesReceived;
    server = await startServer(port);
    await waitFor('streaming again', () => cam.state === 'streaming' && cam.stats.framesReceived > before + 2, 45_000);
    expect(cam.stats.restarts).toBeGreaterThanOrEqual(2);
    const pid = cam.pid;
    expect(pid).not.toBeNull();
    await cam.stop();
    expect(cam.state).toBe('stopped');
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(ffmpegChildren()).toEqual(childrenBefore);
    expect(openFds()).toBe(fdsBefore);
  });
});
