// A second port for health checks only (serve's healthPort), answered by a worker thread with
// its own event loop: see health-worker-source.ts for why, and what it still checks.
import { Worker } from 'node:worker_threads';
import { HealthPortError } from './errors.js';
import { HEALTH_WORKER_SOURCE } from './health-worker-source.js';

/** How often the main thread proves it is running. */
const BEAT_MS = 200;
/** Main-thread silence after which /healthz on the health port answers 503. */
export const HEALTH_STALL_MS = 10_000;

const STATE = { starting: 0, ready: 1, draining: 2, not_ready: 3 } as const;

export interface HealthListener {
  port: number;
  /** `reason` says why, for not_ready (answered with it). */
  setState(s: keyof typeof STATE, reason?: string): void;
  close(): Promise<void>;
}

export async function startHealthListener(host: string, port: number, stallMs = HEALTH_STALL_MS): Promise<HealthListener> {
  const shared = new SharedArrayBuffer(16);
  const beat = new BigInt64Array(shared, 0, 1);
  const state = new Int32Array(shared, 8, 1);
  const stamp = () => Atomics.store(beat, 0, BigInt(Date.now()));
  stamp();
  const worker = new Worker(HEALTH_WORKER_SOURCE, { eval: true, workerData: { host, port, stallMs, shared } });
  const bound = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { port?: number; error?: string }) => (m.port !== undefined ? resolve(m.port) : reject(new HealthPortError(host, port, m.error ?? 'unknown error'))));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the health listener thread exited while starting (code ${code})`)));
  }).catch(async (e: unknown) => {
    await worker.terminate();
    throw e;
  });
  const timer = setInterval(stamp, BEAT_MS);
  timer.unref();
  // The listener keeps serving while the main server runs; the main server's own handles keep the process alive.
  worker.unref();
  let closed: Promise<void> | undefined;
  return {
    port: bound,
    setState(s, reason) {
      // The thread stores not_ready itself, with its reason, so it never answers one without the other.
      if (s === 'not_ready') return void worker.postMessage({ reason: reason ?? '', state: STATE.not_ready });
      Atomics.store(state, 0, STATE[s]);
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        // Held until it has exited: otherwise, with the main server already closed, nothing keeps
        // the event loop alive and the process ends before close() resolves.
        worker.ref();
        worker.once('exit', () => resolve());
        worker.postMessage('close');
      });
      return closed;
    },
  };
}
