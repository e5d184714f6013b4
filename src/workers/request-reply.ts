// Request/reply over one worker thread: each request gets an id, its reply is matched by that id,
// buffers can move by transfer, and a worker that dies fails every request still waiting, so no
// caller waits forever. Shared by the runtime's session worker (src/runtime/node) and serve's
// decode workers (src/gateway/serve), which import it by relative path: neither reaches into the other.
import type { TransferListItem, Worker } from 'node:worker_threads';

/** An error as a worker reports it (errors do not survive structured cloning with their class). */
export interface WorkerErrorReport {
  name: string;
  message: string;
}

/** What every reply carries: the request's id, and an error instead of a result when it failed. */
export interface WorkerReply {
  id?: number;
  error?: WorkerErrorReport;
}

export interface WorkerChannelOptions {
  /** Names the worker in errors: "the decode worker thread". */
  what: string;
  /** Turns a reported error back into an Error (default: an Error with the reported name). */
  rebuild?(e: WorkerErrorReport): Error;
  /** Called once when the worker fails or exits, after every waiting request was rejected. */
  onDeath?(e: Error): void;
}

/** The default rebuild: the worker's message, under the worker's error name. */
export function rebuildError(e: WorkerErrorReport): Error {
  const err = new Error(e.message);
  if (e.name !== 'Error') err.name = e.name;
  return err;
}

/**
 * Matches replies to requests on one worker. While a request is waiting the worker is ref'd (the
 * process waits for the answer); while none is, it is unref'd, so an idle worker never keeps the
 * process alive. Messages without a pending id (a start-up handshake) are left to other listeners.
 */
export class WorkerChannel<Reply extends WorkerReply = WorkerReply> {
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: unknown): void }>();
  private nextId = 0;
  private dead: Error | null = null;

  constructor(
    readonly worker: Worker,
    private readonly opts: WorkerChannelOptions,
  ) {
    worker.unref();
    worker.on('message', (r: Reply) => this.settle(r));
    worker.on('error', (e) => this.die(new Error(`${opts.what} failed: ${e.message}`)));
    worker.on('exit', (code) => this.die(new Error(`${opts.what} exited (code ${code})`)));
  }

  /** Requests waiting for their reply. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Why the channel refuses requests (the worker died, or close() was called); null while it works. */
  get failure(): Error | null {
    return this.dead;
  }

  /**
   * Posts `msg` with a fresh id; resolves to the reply, rejects with the reported error (rebuilt),
   * or with the worker's death. `transfer` lists buffers moved rather than copied (the caller must
   * not use them afterwards). A message that cannot be cloned rejects with a TypeError.
   */
  request(msg: Record<string, unknown>, transfer: readonly TransferListItem[] = []): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...msg, id }, transfer);
      } catch (e) {
        // Not cloneable (a function in the message, …): nothing was sent, nothing will answer.
        this.settle({ id, error: { name: 'TypeError', message: `cannot pass to ${this.opts.what}: ${e instanceof Error ? e.message : String(e)}` } } as Reply);
      }
    });
  }

  /** Stops the worker; waiting and later requests reject with `reason`. */
  async close(reason: Error): Promise<void> {
    this.dead ??= reason;
    this.rejectAll(this.dead);
    // Held until it has exited: an unref'd worker does not keep the process alive, which could end
    // (its event loop drained) before the caller's close finishes.
    this.worker.ref();
    await this.worker.terminate();
  }

  private settle(r: Reply): void {
    if (r.id === undefined) return;
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.worker.unref();
    if (r.error) p.reject((this.opts.rebuild ?? rebuildError)(r.error));
    else p.resolve(r);
  }

  private die(e: Error): void {
    const first = this.dead === null;
    this.dead ??= e;
    this.rejectAll(this.dead);
    if (first) this.opts.onDeath?.(e);
  }

  private rejectAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
