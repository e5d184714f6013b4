// `ganomaly-edge/browser`, kept one minor version for pages that import it: training in a page is
// its own package now, @ganomaly-edge/browser, which imports the runtime by name (one copy per page)
// and installs without onnxruntime-node or sharp.
/** @deprecated Import from '@ganomaly-edge/browser'. */
export * from '@ganomaly-edge/browser';
