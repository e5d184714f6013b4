// JSON lines: one line per event message or camera state, to stdout or appended to a file. File
// lines are written synchronously, so a line is in the kernel (and survives the process dying) by
// the time publish() returns; lines are small and rare (events, not frames).
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { AnomalyEvent } from '../events.js';
import { DropCounter, stateMessage, stderrLog, type CameraState, type EventSink, type SinkStats, type WatchLog } from './sink.js';

export interface JsonlSinkOptions {
  /** 'stdout', a file path (created if missing, appended to), or a writable stream. */
  target: 'stdout' | string | Writable;
  log?: WatchLog;
}

export class JsonlSink implements EventSink {
  readonly kind = 'jsonl';
  private fd: number | undefined;
  private readonly stream: Writable | undefined;
  private readonly drops: DropCounter;
  private published = 0;
  private delivered = 0;
  private closed = false;

  constructor(opts: JsonlSinkOptions) {
    this.drops = new DropCounter('jsonl', opts.log ?? stderrLog);
    const t = opts.target;
    if (t === 'stdout') this.stream = process.stdout;
    else if (typeof t === 'string') {
      if (t === '') throw new TypeError("target must be 'stdout', a file path or a stream");
      this.fd = openSync(t, 'a');
    } else if (t && typeof (t as Writable).write === 'function') this.stream = t;
    else throw new TypeError("target must be 'stdout', a file path or a stream");
  }

  publish(event: AnomalyEvent): void {
    this.line(event, { event: event.id, seq: event.seq });
  }

  state(camera: string, state: CameraState, reason?: string): void {
    const m = stateMessage(camera, state, reason);
    this.line({ type: 'state', ...m }, { camera, state });
  }

  private line(value: object, what: Record<string, unknown>): void {
    this.published++;
    if (this.closed) return this.drops.drop('closed', what);
    const text = `${JSON.stringify(value)}\n`;
    try {
      if (this.fd !== undefined) writeSync(this.fd, text);
      else this.stream!.write(text);
      this.delivered++;
    } catch (e) {
      this.drops.drop('write_failed', what, e instanceof Error ? e.message : String(e));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    // stdout is asynchronous on pipes: wait until what was written has left the process.
    else if (this.stream?.writableNeedDrain) await new Promise((r) => this.stream!.once('drain', r));
  }

  stats(): SinkStats {
    return { published: this.published, delivered: this.delivered, dropped: { ...this.drops.byReason }, pending: 0 };
  }
}
