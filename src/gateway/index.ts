// @ganomaly-edge/gateway: scoring services for a machine that runs a prebuilt model and never
// trains (no TensorFlow.js): `serve` (HTTP) here, and the `ganomaly-gateway` command.
export * from './serve/index.js';
