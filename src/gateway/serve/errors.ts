// The one error type the server's handlers throw: an HTTP status, a stable machine-readable code,
// and a message a person can act on. Anything else that escapes a handler becomes a 500.
import { GanomalyError } from '@ganomaly-edge/runtime/node';

export class HttpError extends GanomalyError {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    /** Stable snake_case code clients can switch on (`queue_full`, `body_too_large`, …). */
    readonly code: string,
    message: string,
    /** Extra response headers (Retry-After, Allow). */
    readonly headers: Record<string, string> = {},
    /** Close the connection after answering: the rest of the request body will not be read. */
    readonly closeConnection = false,
  ) {
    super(message);
  }
}

/** The JSON body of every error response. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/**
 * The health port could not be opened (in use, not permitted). It is on by default (the main port
 * + 1), so the message says how to move it or turn it off.
 */
export class HealthPortError extends GanomalyError {
  override name = 'HealthPortError';
  readonly code = 'health_port_unavailable';
  constructor(readonly host: string, readonly port: number, reason: string) {
    super(`cannot listen on the health port ${host}:${port}: ${reason} (choose another with --health-port <n> / healthPort, 0 = any free port, or turn it off with --no-health-port / healthPort: false)`);
  }
}
