// `import … from 'ganomaly-edge'`: the Node runtime (createDetector and friends), re-exported from
// @ganomaly-edge/runtime so toolkit users need one import. Training, export, eval and serving have
// their own subpaths (ganomaly-edge/train, /export, /eval, /serve).
export * from '@ganomaly-edge/runtime/node';
