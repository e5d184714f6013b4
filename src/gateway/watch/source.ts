// What every frame source of `watch` (ffmpeg cameras, watched folders) gives its consumer.
import type { EventEmitter } from 'node:events';
import type { GanomalyError } from '@ganomaly-edge/runtime/node';

/**
 * A frame: 8-bit interleaved pixels at the source's fixed output size. It is a RawImage
 * ({ data, width, height, channels }), so a detector scores it as is.
 */
export interface Frame {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
  /** The source's id. */
  source: string;
  /** 1, 2, 3… in the order the source received frames (dropped ones included, so gaps show drops). */
  seq: number;
  /** When the frame arrived (ms since the epoch). */
  timestamp: number;
  /** Folder sources: the file's name inside the folder. */
  file?: string;
}

/**
 * - `connecting`: ffmpeg started, no frame yet.
 * - `streaming`: frames arriving (a folder: the folder is readable and watched).
 * - `stalled`: streaming stopped for `stallTimeoutMs`; the watchdog kills ffmpeg and starts it again.
 * - `offline`: ffmpeg failed to start, exited, or gave no first frame; a reconnect is scheduled
 *   with backoff (a folder: it is missing or unreadable; it is looked at again every poll).
 * - `ended`: a video file (not looped) reached its end. Final.
 * - `stopped`: stop() was called. Final.
 */
export type SourceState = 'connecting' | 'streaming' | 'stalled' | 'offline' | 'ended' | 'stopped';

export interface StateChange {
  state: SourceState;
  previous: SourceState | 'idle';
  /** One line: why the source is stalled or offline (null otherwise). */
  reason: string | null;
  /** The typed error behind `reason`, when there is one. */
  error: GanomalyError | null;
}

export interface SourceStats {
  state: SourceState | 'idle';
  reason: string | null;
  /** Frames read from the source (ffmpeg frames, decoded files). */
  framesReceived: number;
  /** Frames replaced by a newer one before the consumer took them. */
  framesDropped: number;
  /** ffmpeg processes started after the first one (stall restarts and reconnects). */
  restarts: number;
  /** Folder sources: files that could not be read or decoded. */
  badFiles: number;
  /** ms since the epoch of the last frame, or null. */
  lastFrameAt: number | null;
}

/**
 * A frame source. Frames are pulled: `for await (const frame of source.frames())`; state changes
 * are 'state' events ({@link StateChange}). Memory is bounded: a source never holds more than one
 * frame that its consumer has not taken.
 */
export interface FrameSource extends EventEmitter {
  readonly id: string;
  readonly state: SourceState | 'idle';
  readonly stats: SourceStats;
  start(): void;
  stop(): Promise<void>;
  frames(): AsyncIterableIterator<Frame>;
}
