// Public serving API: `import { startServer } from 'ganomaly-edge/serve'`.
export { startServer, SERVE_DEFAULTS, type ServeOptions, type RunningServer } from './server.js';
export { HttpError } from './errors.js';
export { writeTritonRepository } from '../export/triton.js';
