// Whether serve should be sent traffic. A graph that loads can still be too slow for the server's
// own request timeout (every request would end in 504) or fail on every image; the load balancer
// learns that from /readyz, before any request does. After load, one probe image is scored with
// the request timeout: 'starting' until it is, then 'ready', or 'not_ready' with the reason.
import { GanomalyError } from '@ganomaly-edge/runtime/node';

export type ReadyState = 'starting' | 'ready' | 'not_ready';

export class Readiness {
  state: ReadyState = 'starting';
  reason: string | undefined;
  private readonly listeners: ((state: ReadyState, reason: string | undefined) => void)[] = [];

  set(state: ReadyState, reason?: string): void {
    this.state = state;
    this.reason = reason;
    for (const l of this.listeners) l(state, reason);
  }

  /** Calls `listener` now and on every change. */
  watch(listener: (state: ReadyState, reason: string | undefined) => void): void {
    this.listeners.push(listener);
    listener(this.state, this.reason);
  }
}

/**
 * Runs `score` once and waits at most `timeoutMs` for it: null when it answered in time, else why
 * not. The run itself cannot be stopped (ONNX Runtime has no cancel); it goes on in the session.
 */
export async function probeReadiness(score: () => Promise<unknown>, timeoutMs: number): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the first scoring of a probe image took longer than the request timeout (${timeoutMs} ms), so every request would time out; give serve a longer timeout, a faster execution provider or a smaller model`), timeoutMs);
  });
  const run = score().then(
    () => null,
    (e: unknown) => `the probe image could not be scored (${e instanceof GanomalyError ? `${e.code}: ` : ''}${(e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300)})`,
  );
  try {
    return await Promise.race([run, late]);
  } finally {
    clearTimeout(timer);
  }
}
