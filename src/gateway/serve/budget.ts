// Admission by decoded bytes: every image reserves the bytes its decoded pixels will take
// (width × height × channels, read from the header with sharp's metadata() before decoding)
// and gives them back once it has been scored. Requests over the budget wait their turn, in
// arrival order, for at most maxWaitMs (then 503); when the images already waiting would fill the
// budget `queueFactor` times over, a newcomer gets its 503 at once. One image bigger than the whole
// budget is a 413.
import { HttpError } from './errors.js';

interface Waiter {
  bytes: number;
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

  /** Resolves to a release function (idempotent) once `bytes` fit; rejects with 413/503, or when `signal` aborts. */
  acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (bytes > this.limit) {
      return Promise.reject(new HttpError(
        413, 'image_too_large',
        `the image decodes to ${bytes} bytes, more than the server's decode budget of ${this.limit} bytes (server option --max-decoded)`,
      ));
    }
    const release = this.releaser(bytes);
    if (this.waiters.length === 0 && this.used + bytes <= this.limit) {
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

  /** Grants waiters in arrival order while they fit. */
  private pump(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.bytes <= this.limit) {
      const w = this.waiters[0]!;
      this.used += w.bytes;
      w.grant();
    }
  }
}
