// `ganomaly-edge/serve`: serving moved to @ganomaly-edge/gateway (a package without TensorFlow.js).
// This subpath re-exports it for one minor version, next to writeTritonRepository, which stays in
// the toolkit (it writes export output). Needs @ganomaly-edge/gateway installed (an optional
// dependency of the toolkit: see src/cli/gateway.ts).
import {
  HttpError as GatewayHttpError,
  SERVE_DEFAULTS as GATEWAY_SERVE_DEFAULTS,
  startServer as gatewayStartServer,
  type RunningServer as GatewayRunningServer,
  type ServeOptions as GatewayServeOptions,
} from '@ganomaly-edge/gateway';

/** @deprecated Moved: `import { startServer } from '@ganomaly-edge/gateway'`. Kept here until the next minor version. */
export const startServer = gatewayStartServer;
/** @deprecated Moved: `import { SERVE_DEFAULTS } from '@ganomaly-edge/gateway'`. Kept here until the next minor version. */
export const SERVE_DEFAULTS = GATEWAY_SERVE_DEFAULTS;
/** @deprecated Moved: `import { HttpError } from '@ganomaly-edge/gateway'`. Kept here until the next minor version. */
export const HttpError = GatewayHttpError;
/** @deprecated Moved: `import type { HttpError } from '@ganomaly-edge/gateway'`. */
export type HttpError = GatewayHttpError;
/** @deprecated Moved: `import type { ServeOptions } from '@ganomaly-edge/gateway'`. */
export type ServeOptions = GatewayServeOptions;
/** @deprecated Moved: `import type { RunningServer } from '@ganomaly-edge/gateway'`. */
export type RunningServer = GatewayRunningServer;
export { writeTritonRepository } from '../export/triton.js';
