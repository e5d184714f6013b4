// ffmpeg command lines per source kind, the filter chain, option ranges and finding ffmpeg.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FfmpegNotFoundError, ffmpegArgs, filterChain, findFfmpeg, frameBytes, sourceKind } from '../../../src/gateway/watch/ffmpeg.js';
import { Camera, cleanLine } from '../../../src/gateway/watch/camera.js';

const base = { width: 64, height: 48, pixelFormat: 'gray' as const };
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('sourceKind', () => {
  it('tells the kinds apart', () => {
    expect(sourceKind('rtsp://10.0.0.2:554/stream1')).toBe('rtsp');
    expect(sourceKind('RTSPS://cam/x')).toBe('rtsp');
    expect(sourceKind('http://cam/mjpg/video.mjpg')).toBe('http');
    expect(sourceKind('https://cdn/x/index.m3u8')).toBe('http');
    expect(sourceKind('/dev/video0')).toBe('v4l2');
    expect(sourceKind('/data/belt.mkv')).toBe('file');
    expect(sourceKind('file:///data/belt.mkv')).toBe('file');
    expect(() => sourceKind('rtmp://x/y')).toThrow(TypeError);
    expect(() => sourceKind('')).toThrow(TypeError);
  });
});

describe('ffmpegArgs', () => {
  it('rtsp: TCP, timeout in µs, raw frames on stdout', () => {
    const a = ffmpegArgs({ ...base, source: 'rtsp://127.0.0.1:8554/cam1', timeoutMs: 3000 });
    expect(after(a, '-rtsp_transport')).toBe('tcp');
    expect(after(a, '-timeout')).toBe('3000000');
    expect(after(a, '-i')).toBe('rtsp://127.0.0.1:8554/cam1');
    expect(a.indexOf('-rtsp_transport')).toBeLessThan(a.indexOf('-i'));
    expect(a.slice(-5)).toEqual(['-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
    expect(after(a, '-map')).toBe('0:v:0');
  });

  it('http: socket and read-write timeouts (HLS passes -rw_timeout on to its segments)', () => {
    const a = ffmpegArgs({ ...base, source: 'https://cam/live.m3u8' });
    expect(after(a, '-timeout')).toBe('10000000');
    expect(after(a, '-rw_timeout')).toBe('10000000');
    expect(a).not.toContain('-rtsp_transport');
  });

  it('v4l2: the device format and size the caller asks for', () => {
    const a = ffmpegArgs({ ...base, source: '/dev/video2', v4l2InputFormat: 'mjpeg', v4l2VideoSize: { width: 1280, height: 720 } });
    expect(after(a, '-f')).toBe('v4l2');
    expect(after(a, '-input_format')).toBe('mjpeg');
    expect(after(a, '-video_size')).toBe('1280x720');
    expect(() => ffmpegArgs({ ...base, source: '/dev/video2', v4l2InputFormat: 'mjpeg -x' })).toThrow(TypeError);
  });

  it('files: looped and paced at native rate on request, names kept from being read as protocols', () => {
    const plain = ffmpegArgs({ ...base, source: 'clips/a:b.mkv' });
    expect(plain).not.toContain('-re');
    expect(plain).not.toContain('-stream_loop');
    expect(after(plain, '-i')).toBe(`file:${path.resolve('clips/a:b.mkv')}`);
    const looped = ffmpegArgs({ ...base, source: '/v/a.mkv', loop: true });
    expect(after(looped, '-stream_loop')).toBe('-1');
    expect(looped.indexOf('-re')).toBeLessThan(looped.indexOf('-i'));
    expect(ffmpegArgs({ ...base, source: '/v/a.mkv', loop: true, realtime: false })).not.toContain('-re');
    expect(ffmpegArgs({ ...base, source: '/v/a.mkv', realtime: true })).toContain('-re');
    expect(() => ffmpegArgs({ ...base, source: 'rtsp://x/y', loop: true })).toThrow(TypeError);
  });

  it('filter chain: sampling, crop in source pixels, fixed output size, pixel format', () => {
    const a = ffmpegArgs({ width: 32, height: 32, pixelFormat: 'rgb24', source: '/v/a.mkv', fps: 2, roi: { x: 10, y: 20, width: 300, height: 200 } });
    expect(after(a, '-vf')).toBe(
      "select='isnan(prev_selected_t)+gte(t-prev_selected_t,0.45)+lt(t,prev_selected_t)',crop=300:200:10:20:exact=1,scale=32:32:flags=bilinear,format=rgb24",
    );
    expect(after(a, '-pix_fmt')).toBe('rgb24');
    expect(filterChain(base, 5)).toBe("select='isnan(prev_selected_t)+gte(t-prev_selected_t,0.18)+lt(t,prev_selected_t)',scale=64:48:flags=bilinear,format=gray");
    expect(frameBytes({ width: 32, height: 32, pixelFormat: 'rgb24' })).toBe(3072);
  });

  it('checks every numeric option against its range', () => {
    const src = { ...base, source: '/v/a.mkv' };
    expect(() => ffmpegArgs({ ...src, width: 0 })).toThrow(RangeError);
    expect(() => ffmpegArgs({ ...src, height: 9000 })).toThrow(RangeError);
    expect(() => ffmpegArgs({ ...src, fps: 0 })).toThrow(RangeError);
    expect(() => ffmpegArgs({ ...src, fps: 241 })).toThrow(RangeError);
    expect(() => ffmpegArgs({ ...src, fps: '5' as never })).toThrow(TypeError);
    expect(() => ffmpegArgs({ ...src, timeoutMs: 50 })).toThrow(RangeError);
    expect(() => ffmpegArgs({ ...src, roi: { x: -1, y: 0, width: 10, height: 10 } })).toThrow(RangeError);
    expect(() => ffmpegArgs({ ...src, roi: { x: 0, y: 0, width: 0, height: 10 } })).toThrow(RangeError);
    expect(() => ffmpegArgs({ ...src, pixelFormat: 'yuv420p' as never })).toThrow(TypeError);
  });
});

describe('Camera options', () => {
  const ok = { id: 'cam1', source: '/v/a.mkv', ...base };
  it('are checked at construction', () => {
    expect(() => new Camera({ ...ok, id: 'bad id' })).toThrow(TypeError);
    expect(() => new Camera({ ...ok, fps: 1, stallTimeoutMs: 1000 })).toThrow(RangeError);
    expect(() => new Camera({ ...ok, stallTimeoutMs: 50 })).toThrow(RangeError);
    expect(() => new Camera({ ...ok, startTimeoutMs: 700_000 })).toThrow(RangeError);
    expect(() => new Camera({ ...ok, killGraceMs: -1 })).toThrow(RangeError);
    expect(() => new Camera({ ...ok, stderrLines: 0 })).toThrow(RangeError);
    expect(() => new Camera({ ...ok, backoff: { jitter: 2 } })).toThrow(RangeError);
    expect(() => new Camera({ ...ok, ffmpegPath: '' })).toThrow(TypeError);
  });
  it('default the stall timeout to at least three sampling periods', () => {
    expect(new Camera(ok).stallTimeoutMs).toBe(10_000);
    expect(new Camera({ ...ok, fps: 0.1 }).stallTimeoutMs).toBe(30_000);
    expect(new Camera({ ...ok, fps: 0.1 }).startTimeoutMs).toBe(30_000);
  });
});

describe('findFfmpeg', () => {
  let dir: string;
  afterAll(async () => dir && rm(dir, { recursive: true, force: true }));

  it('finds an executable ffmpeg on PATH, skipping non-executable ones', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gw-ffmpeg-'));
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(a);
    await mkdir(b);
    await writeFile(path.join(a, 'ffmpeg'), '#!/bin/sh\n');
    await writeFile(path.join(b, 'ffmpeg'), '#!/bin/sh\n');
    await chmod(path.join(b, 'ffmpeg'), 0o755);
    expect(await findFfmpeg(undefined, [path.join(dir, 'none'), a, b].join(path.delimiter))).toBe(path.join(b, 'ffmpeg'));
  });

  it('says how to install it, in one line, when it is missing', async () => {
    const e1 = await findFfmpeg(undefined, '/nonexistent-dir').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(FfmpegNotFoundError);
    expect((e1 as FfmpegNotFoundError).code).toBe('ffmpeg_not_found');
    expect((e1 as Error).message).toMatch(/apt-get install ffmpeg/);
    const e2 = await findFfmpeg('/nonexistent/ffmpeg').catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/^ffmpeg not found at \/nonexistent\/ffmpeg .*apt-get install ffmpeg/);
    expect((e2 as Error).message).not.toContain('\n');
  });
});

describe('cleanLine', () => {
  it('makes one printable line of an ffmpeg stderr line: no ANSI, no control characters, no pointer', () => {
    expect(cleanLine('\x1b[1;31m[tcp @ 0x55bb0dc70280] Connection to tcp://127.0.0.1:1 failed: Connection refused\x1b[0m\r')).toBe(
      '[tcp] Connection to tcp://127.0.0.1:1 failed: Connection refused',
    );
    expect(cleanLine('a\tb\x07c')).toBe('a b c');
  });
});
