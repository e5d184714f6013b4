// The server's life after its parts exist: listen (main port, then the optional health port),
// drain on close, and give the worker threads back. A start that fails part way releases what it
// had started; close() answers every request already accepted before anything is released.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Admission } from './admission.js';
import type { MicroBatcher } from './batcher.js';
import { startHealthListener, type HealthListener } from './health-listener.js';
import type { LogSink } from './logging.js';
import type { Readiness } from './readiness.js';
import type { Routes } from './routes.js';

export interface LifecycleOptions {
  port: number;
  host: string;
  healthPort?: number;
  bodyTimeoutMs: number;
  admission: Admission;
  batcher: Pick<MicroBatcher<unknown, unknown>, 'flush' | 'idle'>;
  routes: Routes;
  /** What the health port's /readyz answers (the main port's reads it in routes.ts). */
  readiness: Readiness;
  /** The decode workers, then the model and its session worker: what a failed start or a close gives back. */
  releaseWorkers(): Promise<void>;
  log: LogSink;
}

export interface Listening {
  url: string;
  port: number;
  healthUrl?: string;
  /** Stops accepting, answers every accepted request, then releases the workers. Idempotent. */
  close(): Promise<void>;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

export async function listen(o: LifecycleOptions): Promise<Listening> {
  const { admission, batcher, routes, log } = o;
  const server = createServer({ keepAlive: true });
  routes.attach(server);
  // Node's own whole-request timer must not fire before ours (which answers in JSON).
  server.requestTimeout = Math.max(server.requestTimeout, o.bodyTimeoutMs + 10_000);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e: unknown) => {
    await o.releaseWorkers();
    throw e;
  });
  const { port } = server.address() as AddressInfo;
  const origin = (p: number) => `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${p}`;
  let health: HealthListener | undefined;
  if (o.healthPort !== undefined) {
    try {
      health = await startHealthListener(o.host, o.healthPort);
    } catch (e) {
      await closeServer(server);
      await o.releaseWorkers();
      throw e;
    }
    const h = health;
    o.readiness.watch((state, reason) => h.setState(state, reason));
  }

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      admission.drain();
      health?.setState('draining');
      log({ msg: 'draining', active: admission.open, admitted: admission.admitted });
      // Keep-alive clients learn from the answer itself that this connection ends (no reset).
      routes.closeConnectionsAfterAnswer();
      const closed = closeServer(server);
      server.closeIdleConnections();
      batcher.flush(); // nothing accepted waits for a wait window any more
      await admission.idle();
      server.closeAllConnections();
      await closed;
      await batcher.idle();
      await o.releaseWorkers();
      await health?.close();
      log({ msg: 'closed' });
    })());

  return { url: origin(port), port, ...(health ? { healthUrl: origin(health.port) } : {}), close };
}
