// The HttpError a synchronous call throws (serve's parsers and admission refuse with one).
import { HttpError } from '../../src/gateway/serve/errors.js';

export function httpError(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpError) return e;
    throw e;
  }
  throw new Error('expected an HttpError');
}
