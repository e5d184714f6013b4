// The serving API: `import { startServer } from '@ganomaly-edge/gateway'`.
export { startServer, SERVE_DEFAULTS, type ServeOptions, type RunningServer } from './server.js';
export { HttpError } from './errors.js';
