// Webhook: POSTs each message as JSON, one at a time and in order (an `end` never overtakes its
// `start`), with a per-request timeout and retries with exponential backoff. Messages wait in a
// bounded queue; what cannot be delivered (queue full, retries exhausted, refused by the receiver,
// still queued at close) is counted and logged with its event id: nothing is dropped silently.
//
// A request that timed out may still have reached the receiver, so a retry can deliver a message
// twice; every request carries `Idempotency-Key: <event id>/<seq>` (or `state/<camera>/<n>`) so a
// receiver can discard the repeat.
import type { AnomalyEvent } from '../events.js';
import { checkInt, describeEvent, DropCounter, stateMessage, stderrLog, type CameraState, type EventSink, type SinkStats, type WatchLog } from './sink.js';

export interface WebhookSinkOptions {
  /** http(s) URL that receives the POSTs. */
  url: string;
  /** Per-request timeout, 100-120000 ms. Default 5000. */
  timeoutMs?: number;
  /** Retries after the first attempt, 0-20. Default 5. */
  retries?: number;
  /** Delay before the first retry, doubled for each further one (capped at maxBackoffMs), 10-60000 ms. Default 500. */
  backoffMs?: number;
  /** Longest delay between retries, 10-600000 ms. Default 30000. */
  maxBackoffMs?: number;
  /** Messages accepted and not yet delivered (the one being sent included), 1-100000. Default 1000. */
  queueSize?: number;
  /** How long close() keeps delivering what is queued, 0-600000 ms. Default 10000. */
  closeTimeoutMs?: number;
  /** Extra request headers (an Authorization token). */
  headers?: Record<string, string>;
  log?: WatchLog;
}

interface Item {
  key: string;
  body: string;
  what: Record<string, unknown>;
}

/** 2xx is delivered; 408 and 429 and 5xx are worth retrying; any other status will not change. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class WebhookSink implements EventSink {
  readonly kind = 'webhook';
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly queueSize: number;
  private readonly closeTimeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly log: WatchLog;
  private readonly drops: DropCounter;
  private readonly queue: Item[] = [];
  private pumping: Promise<void> | undefined;
  private closing = false;
  /** Aborts the request or backoff in progress when close() gives up. */
  private readonly abort = new AbortController();
  private published = 0;
  private delivered = 0;
  private stateSeq = 0;
  /** Retries made, for metrics. */
  retriesMade = 0;

  constructor(opts: WebhookSinkOptions) {
    try {
      this.url = new URL(opts.url);
    } catch {
      throw new TypeError(`url must be an http(s) URL; got ${String(opts.url)}`);
    }
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new TypeError(`url must be an http(s) URL; got ${opts.url}`);
    this.timeoutMs = checkInt(opts.timeoutMs ?? 5000, 'timeoutMs', 100, 120_000);
    this.retries = checkInt(opts.retries ?? 5, 'retries', 0, 20);
    this.backoffMs = checkInt(opts.backoffMs ?? 500, 'backoffMs', 10, 60_000);
    this.maxBackoffMs = checkInt(opts.maxBackoffMs ?? 30_000, 'maxBackoffMs', 10, 600_000);
    this.queueSize = checkInt(opts.queueSize ?? 1000, 'queueSize', 1, 100_000);
    this.closeTimeoutMs = checkInt(opts.closeTimeoutMs ?? 10_000, 'closeTimeoutMs', 0, 600_000);
    this.headers = { ...opts.headers };
    this.log = opts.log ?? stderrLog;
    this.drops = new DropCounter('webhook', this.log);
  }

  publish(event: AnomalyEvent): void {
    this.enqueue({ key: `${event.id}/${event.seq}`, body: JSON.stringify(event), what: describeEvent(event) });
  }

  state(camera: string, state: CameraState, reason?: string): void {
    const m = stateMessage(camera, state, reason);
    this.enqueue({ key: `state/${camera}/${++this.stateSeq}`, body: JSON.stringify({ type: 'state', ...m }), what: { camera, state } });
  }

  private enqueue(item: Item): void {
    this.published++;
    if (this.closing) return this.drops.drop('closed', item.what);
    if (this.queue.length >= this.queueSize) return this.drops.drop('queue_full', item.what, `${this.queueSize} messages waiting`);
    this.queue.push(item);
    this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      const item = this.queue[0]!;
      await this.deliver(item);
      this.queue.shift();
    }
  }

  private async deliver(item: Item): Promise<void> {
    let last = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) {
        this.retriesMade++;
        const delay = Math.min(this.backoffMs * 2 ** (attempt - 1), this.maxBackoffMs);
        this.log({ level: 'info', msg: `webhook retry ${attempt}/${this.retries} in ${delay} ms: ${last}`, sink: 'webhook', attempt, ...item.what });
        if (!(await this.sleep(delay))) break;
      }
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': item.key, ...this.headers },
          body: item.body,
          signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.abort.signal]),
        });
        // The body is read so the connection can be reused for the next message.
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.delivered++;
          return;
        }
        last = `HTTP ${res.status}`;
        if (!retryable(res.status)) return this.drops.drop('rejected', item.what, last);
      } catch (e) {
        const err = e as Error;
        last = err.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`;
        if (this.abort.signal.aborted) break;
      }
    }
    this.drops.drop(this.abort.signal.aborted ? 'closed' : 'retries_exhausted', item.what, last);
  }

  /** Waits ms; false when close() gave up meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.abort.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops accepting messages and keeps delivering the queue for up to closeTimeoutMs; whatever is
   * still queued then is dropped (counted and logged as 'closed').
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.pumping) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => (timer = setTimeout(r, this.closeTimeoutMs)));
      await Promise.race([this.pumping, deadline]);
      clearTimeout(timer);
    }
    this.abort.abort();
    await this.pumping;
    // The item in flight when the abort came was dropped by deliver(); the rest never started.
    for (const item of this.queue.splice(0)) this.drops.drop('closed', item.what);
  }

  stats(): SinkStats {
    return { published: this.published, delivered: this.delivered, dropped: { ...this.drops.byReason }, pending: this.queue.length };
  }
}
