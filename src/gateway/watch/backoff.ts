// Reconnect delays. A camera that is down stays down for a while (power, network, a reboot that
// takes a minute); hammering it with ffmpeg starts every second wastes the gateway's CPU and
// fills logs, and many cameras of one site coming back at once must not reconnect in lockstep.
import { checkInt } from './ffmpeg.js';

export interface BackoffOptions {
  /** First delay in ms, 10-600000. Default 1000. */
  baseMs?: number;
  /** Largest delay in ms, baseMs-3600000. Default 30000. */
  maxMs?: number;
  /** Share of each delay taken off at random, 0-1 (0: none, 0.2: delays in [0.8 d, d]). Default 0.2. */
  jitter?: number;
}

export const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>> = { baseMs: 1000, maxMs: 30_000, jitter: 0.2 };

/** Checks the options (TypeError / RangeError) and fills in the defaults. */
export function backoffOptions(o: BackoffOptions = {}): Required<BackoffOptions> {
  const baseMs = checkInt('backoff.baseMs', o.baseMs ?? DEFAULT_BACKOFF.baseMs, 10, 600_000);
  const maxMs = checkInt('backoff.maxMs', o.maxMs ?? Math.max(DEFAULT_BACKOFF.maxMs, baseMs), baseMs, 3_600_000);
  const jitter = o.jitter ?? DEFAULT_BACKOFF.jitter;
  if (typeof jitter !== 'number' || Number.isNaN(jitter)) throw new TypeError(`backoff.jitter must be a number; got ${JSON.stringify(jitter)}`);
  if (jitter < 0 || jitter > 1) throw new RangeError(`backoff.jitter must be in [0, 1]; got ${jitter}`);
  return { baseMs, maxMs, jitter };
}

/**
 * Delay before reconnect attempt `attempt` (0 for the first after a failure):
 * min(maxMs, baseMs · 2^attempt) · (1 − jitter · r), r = random() in [0, 1).
 * Jitter only shortens a delay, so maxMs stays a true bound.
 */
export function backoffDelay(attempt: number, o: Required<BackoffOptions>, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be a non-negative integer; got ${attempt}`);
  // 2^attempt overflows to Infinity past 1023; min() still yields maxMs.
  const d = Math.min(o.maxMs, o.baseMs * 2 ** attempt);
  return Math.round(d * (1 - o.jitter * random()));
}
