// The system ffmpeg decodes every camera: it already speaks RTSP, HTTP (MJPEG, HLS), v4l2 and every
// file container, and is hardware-accelerated where the gateway has it. This file finds it and builds
// its command line; nothing here decodes video in JavaScript.
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GanomalyError } from '@ganomaly-edge/runtime/node';

/** ffmpeg is not on PATH, or the configured path is not an executable file. */
export class FfmpegNotFoundError extends GanomalyError {
  override name = 'FfmpegNotFoundError';
  readonly code = 'ffmpeg_not_found';
}

/** Pixel formats a camera delivers: 1 byte (grey) or 3 bytes (RGB) per pixel, ffmpeg's names. */
export type PixelFormat = 'gray' | 'rgb24';

/** How ffmpeg opens a source, chosen from the source string by {@link sourceKind}. */
export type SourceKind = 'rtsp' | 'http' | 'v4l2' | 'file';

/** A region of interest in source pixels, cropped before scaling. */
export interface Roi {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Size and format of the raw frames ffmpeg writes; fixed for the life of a camera. */
export interface FrameFormat {
  /** Output width in pixels, 1-8192. */
  width: number;
  /** Output height in pixels, 1-8192. */
  height: number;
  /** 'gray' (1 byte a pixel) or 'rgb24' (3). */
  pixelFormat: PixelFormat;
}

export interface FfmpegInputOptions extends FrameFormat {
  /** `rtsp://`/`rtsps://` URL, `http(s)://` URL (MJPEG, HLS), `/dev/videoN`, or a video file path (or `file:` URL). */
  source: string;
  /** Frames per second sampled from the source, (0, 240]. Default 5. */
  fps?: number;
  /** Crop in source pixels before scaling (x, y ≥ 0; width, height ≥ 1; all integers). Default: the whole frame. */
  roi?: Roi;
  /** Files only: start again at the end, forever (`-stream_loop -1`). Default false. */
  loop?: boolean;
  /**
   * Files only: read at the file's native frame rate (`-re`), as a camera would deliver it.
   * Default: true when `loop` (an unpaced endless loop would spin a core), else false.
   */
  realtime?: boolean;
  /** Network sources: connect and read timeout in ms, 100-600000. Default 10000. */
  timeoutMs?: number;
  /** /dev/video* only: the camera's own format (`-input_format`, e.g. 'mjpeg', 'yuyv422'). */
  v4l2InputFormat?: string;
  /** /dev/video* only: the capture size asked of the camera (`-video_size`), before ROI and scaling. */
  v4l2VideoSize?: { width: number; height: number };
}

export const DEFAULT_FPS = 5;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_FRAME_SIDE = 8192;

/** Bytes of one raw frame. */
export function frameBytes(f: FrameFormat): number {
  return f.width * f.height * channelsOf(f.pixelFormat);
}

export function channelsOf(p: PixelFormat): 1 | 3 {
  return p === 'gray' ? 1 : 3;
}

/** Which ffmpeg input a source string is; anything that is not a URL or a /dev/video* node is a file. */
export function sourceKind(source: string): SourceKind {
  if (typeof source !== 'string' || source.length === 0) throw new TypeError(`source must be a non-empty string; got ${JSON.stringify(source)}`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(source)?.[1]?.toLowerCase();
  if (scheme === 'rtsp' || scheme === 'rtsps') return 'rtsp';
  if (scheme === 'http' || scheme === 'https') return 'http';
  if (scheme === 'file') return 'file';
  if (scheme !== undefined) {
    throw new TypeError(`source ${source}: unsupported scheme ${scheme}://; use rtsp://, rtsps://, http(s)://, /dev/videoN or a file path`);
  }
  if (/^\/dev\/video\d+$/.test(source)) return 'v4l2';
  return 'file';
}

export function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${name} must be a number; got ${JSON.stringify(v)}`);
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in [${min}, ${max}]; got ${v}`);
  return v;
}

export function checkFrameFormat(f: FrameFormat): void {
  checkInt('width', f.width, 1, MAX_FRAME_SIDE);
  checkInt('height', f.height, 1, MAX_FRAME_SIDE);
  if (f.pixelFormat !== 'gray' && f.pixelFormat !== 'rgb24') {
    throw new TypeError(`pixelFormat must be 'gray' or 'rgb24'; got ${JSON.stringify(f.pixelFormat)}`);
  }
}

export function checkRoi(roi: Roi | undefined): void {
  if (roi === undefined) return;
  if (typeof roi !== 'object' || roi === null) throw new TypeError('roi must be { x, y, width, height }');
  checkInt('roi.x', roi.x, 0, 65535);
  checkInt('roi.y', roi.y, 0, 65535);
  checkInt('roi.width', roi.width, 1, 65535);
  checkInt('roi.height', roi.height, 1, 65535);
}

export function checkFps(fps: unknown): number {
  if (typeof fps !== 'number' || !Number.isFinite(fps)) throw new TypeError(`fps must be a number; got ${JSON.stringify(fps)}`);
  if (!(fps > 0 && fps <= 240)) throw new RangeError(`fps must be in (0, 240]; got ${fps}`);
  return fps;
}

/**
 * ffmpeg's command line (without the executable) that writes `width`×`height` frames of
 * `pixelFormat` to stdout. The filter chain fixes the output size, so a source that changes its
 * resolution mid-stream still yields frames of exactly {@link frameBytes} bytes.
 */
export function ffmpegArgs(o: FfmpegInputOptions): string[] {
  checkFrameFormat(o);
  checkRoi(o.roi);
  const fps = checkFps(o.fps ?? DEFAULT_FPS);
  const timeoutMs = checkInt('timeoutMs', o.timeoutMs ?? DEFAULT_TIMEOUT_MS, 100, 600_000);
  const kind = sourceKind(o.source);
  if (kind !== 'file' && (o.loop === true || o.realtime === true)) {
    throw new TypeError(`loop and realtime apply to video files only; source ${o.source} is ${kind}`);
  }
  // Errors only: the supervisor keeps ffmpeg's last stderr lines as the offline reason, and
  // progress or warnings would push the line that says why out of them.
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error'];
  const timeoutUs = String(timeoutMs * 1000);
  switch (kind) {
    case 'rtsp':
      // TCP: UDP loses packets (smeared frames) behind NAT and many gateways' firewalls.
      args.push('-rtsp_transport', 'tcp', '-timeout', timeoutUs, '-i', o.source);
      break;
    case 'http':
      // -rw_timeout is the one HLS passes on to the connections that fetch its playlists and
      // segments; -timeout covers the first connection of a plain MJPEG stream.
      args.push('-timeout', timeoutUs, '-rw_timeout', timeoutUs, '-i', o.source);
      break;
    case 'v4l2':
      args.push('-f', 'v4l2');
      if (o.v4l2InputFormat !== undefined) {
        if (!/^[a-z0-9_]+$/i.test(o.v4l2InputFormat)) throw new TypeError(`v4l2InputFormat must be a pixel or codec name such as mjpeg; got ${JSON.stringify(o.v4l2InputFormat)}`);
        args.push('-input_format', o.v4l2InputFormat);
      }
      if (o.v4l2VideoSize !== undefined) {
        const w = checkInt('v4l2VideoSize.width', o.v4l2VideoSize.width, 1, MAX_FRAME_SIDE);
        const h = checkInt('v4l2VideoSize.height', o.v4l2VideoSize.height, 1, MAX_FRAME_SIDE);
        args.push('-video_size', `${w}x${h}`);
      }
      args.push('-i', o.source);
      break;
    case 'file': {
      const file = o.source.startsWith('file:') ? fileURLToPath(o.source) : o.source;
      if (o.realtime ?? o.loop ?? false) args.push('-re');
      if (o.loop) args.push('-stream_loop', '-1');
      // "file:" stops ffmpeg from reading a name with a colon in it as a protocol.
      args.push('-i', `file:${path.resolve(file)}`);
      break;
    }
  }
  args.push('-map', '0:v:0', '-an', '-sn', '-dn', '-vf', filterChain(o, fps));
  // The filter chain already sampled; passthrough keeps the muxer from duplicating or dropping
  // frames to fill a constant rate.
  args.push('-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', o.pixelFormat, 'pipe:1');
  return args;
}

/** Fraction of the sampling period two sampled frames must be apart, at least. */
export const SAMPLING_TOLERANCE = 0.9;

/**
 * Sampling first (later filters see only sampled frames), then crop, scale to the fixed size, convert.
 *
 * Sampling is a `select` on timestamps rather than ffmpeg's `fps` filter: `fps` fills every gap in
 * the timestamps with copies of the last frame (an RTSP stream re-syncing its clock after the first
 * RTCP report, a network hiccup), so a gateway would score the same stale picture many times and
 * its watchdog would see frames flowing from a camera that sends none. `select` passes real frames
 * only: one when at least SAMPLING_TOLERANCE / fps seconds have passed since the last one taken (the
 * tolerance keeps a source running at exactly `fps` from losing frames to timestamp jitter), and the
 * next one whenever timestamps go backwards (a source that restarts its clock).
 */
export function filterChain(o: FrameFormat & { roi?: Roi }, fps: number): string {
  const interval = Number((SAMPLING_TOLERANCE / fps).toFixed(6));
  const parts = [`select='isnan(prev_selected_t)+gte(t-prev_selected_t,${interval})+lt(t,prev_selected_t)'`];
  if (o.roi) parts.push(`crop=${o.roi.width}:${o.roi.height}:${o.roi.x}:${o.roi.y}:exact=1`);
  parts.push(`scale=${o.width}:${o.height}:flags=bilinear`, `format=${o.pixelFormat}`);
  return parts.join(',');
}

/**
 * The ffmpeg executable to run: `configured` when given (it must be an executable file), else the
 * first `ffmpeg` on PATH. Throws FfmpegNotFoundError with a one-line message naming the fix.
 */
export async function findFfmpeg(configured?: string, envPath = process.env.PATH ?? ''): Promise<string> {
  const install = 'install it (Debian/Ubuntu: apt-get install ffmpeg)';
  if (configured !== undefined) {
    if (typeof configured !== 'string' || configured === '') throw new TypeError('ffmpegPath must be a non-empty string');
    if (await isExecutableFile(configured)) return configured;
    throw new FfmpegNotFoundError(`ffmpeg not found at ${configured} (ffmpegPath): ${install} or point ffmpegPath at it`);
  }
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'ffmpeg');
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new FfmpegNotFoundError(`ffmpeg not found on PATH: ${install} or set ffmpegPath`);
}

async function isExecutableFile(p: string): Promise<boolean> {
  try {
    if (!(await stat(p)).isFile()) return false;
    await access(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
