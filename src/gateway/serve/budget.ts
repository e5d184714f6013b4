// Admission by decoded bytes: every image reserves the bytes its decoded pixels will take
// (width × height × channels, read from the header with sharp's metadata() before decoding)
// and gives them back once it has been scored. Requests over the budget wait their turn, in
// arrival order, for at most maxWaitMs (then 503); when the images already waiting would fill the
// budget `queueFactor` times over, a newcomer gets its 503 at once. One image bigger than the whole
// budget is a 413. Small images (the caller says which: those the express decode worker takes) are
// not held behind big ones: one that fits is granted at once, ahead of bigger images waiting for
// room, so a flood of images that are cheap to send and costly to decode cannot queue them. A big
// image waits at most maxWaitMs for small ones to leave it room.
import { HttpError } from './errors.js';

interface Waiter {
  bytes: number;
  small: boolean;
  grant(): void;
  fail(e: unknown): void;
}

export class ByteBudget {
  private used = 0;
  private waitingBytes = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    /** Most decoded bytes held at once. */
    readonly limit: number,
    /** Longest wait for room before a 503. */
    readonly maxWaitMs: number,
    /** Most bytes waiting, as a multiple of the limit; past it 503 without waiting. */
    readonly queueFactor = 4,
  ) {}

  /** Decoded bytes currently reserved. */
  get inUse(): number {
    return this.used;
  }

  /** Images waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves to a release function (idempotent) once `bytes` fit; rejects with 413/503, or when
   * `signal` aborts. A `small` image may pass bigger ones waiting for room.
   */
  acquire(bytes: number, signal?: AbortSignal, small = false): Promise<() => void> {
    if (bytes > this.limit) {
      return Promise.reject(new HttpError(
        413, 'image_too_large',
        `the image decodes to ${bytes} bytes, more than the server's decode budget of ${this.limit} bytes (server option --max-decoded)`,
      ));
    }
    const release = this.releaser(bytes);
    if ((small || this.waiters.length === 0) && this.used + bytes <= this.limit) {
      this.used += bytes;
      return Promise.resolve(release);
    }
    if (this.waitingBytes + bytes > this.queueFactor * this.limit) return Promise.reject(this.busy());
    return new Promise<() => void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          this.waitingBytes -= bytes;
        }
      };
      const w: Waiter = {
        bytes,
        small,
        grant: () => {
          done();
          resolve(release);
        },
        fail: (e) => {
          done();
          reject(e);
          this.pump(); // a big waiter leaving may let smaller ones behind it in
        },
      };
      const onAbort = () => w.fail(new HttpError(503, 'cancelled', 'the request ended while waiting for decode room'));
      const timer = setTimeout(() => w.fail(this.busy()), this.maxWaitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
      this.waitingBytes += bytes;
    });
  }

  private busy(): HttpError {
    return new HttpError(503, 'busy', `the server is decoding ${this.used} bytes of images (budget ${this.limit} bytes, server option --max-decoded); retry later`, { 'retry-after': '1' });
  }

  private releaser(bytes: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.pump();
    };
  }

  /** Grants waiters in arrival order while they fit; past the first that does not, small ones that fit. */
  private pump(): void {
    let blocked = false;
    for (const w of [...this.waiters]) {
      if (this.used + w.bytes > this.limit) {
        blocked = true;
        continue;
      }
      if (blocked && !w.small) continue;
      this.used += w.bytes;
      w.grant();
    }
  }
}
