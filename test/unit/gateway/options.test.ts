// ServeOptions' renamed options: the new names work, the deprecated ones are mapped onto them,
// and both given with different values is a TypeError before anything is loaded.
import { beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../../src/gateway/serve/server.js';
import { makeModelFolder, TINY_CONFIG, type TestModel } from '../../helpers/make-model.js';

const NO_MODEL = '/nonexistent/ganomaly-model';
let model: TestModel;

beforeAll(async () => {
  model = await makeModelFolder(TINY_CONFIG, 1);
});

describe('startServer: executionProviders and its deprecated alias providers', () => {
  it('both given and different: TypeError naming both', async () => {
    await expect(startServer({ model: NO_MODEL, port: 0, executionProviders: ['cpu'], providers: ['cuda', 'cpu'] })).rejects.toThrow(TypeError);
    await expect(startServer({ model: NO_MODEL, port: 0, executionProviders: ['cpu'], providers: ['cuda'] })).rejects.toThrow(/providers is the deprecated name of executionProviders/);
  });

  it('both given and equal: accepted (the model load is what fails here)', async () => {
    const e = await startServer({ model: NO_MODEL, port: 0, executionProviders: ['cpu'], providers: ['cpu'] }).catch((x: unknown) => x);
    expect(e).not.toBeInstanceOf(TypeError);
  });

  // An empty list reaches the runtime's provider fallback, which refuses it: proof that each name
  // is what the detector gets (an ignored option would start on the default cuda,cpu).
  it.each(['executionProviders', 'providers'] as const)('%s is handed to the detector', async (name) => {
    await expect(startServer({ model: model.dir, port: 0, [name]: [] })).rejects.toThrow(/executionProviders must name at least one provider/);
  });
});

describe('startServer: decodeConcurrency and its deprecated alias maxConcurrentDecodes', () => {
  it.each(['decodeConcurrency', 'maxConcurrentDecodes'] as const)('%s is checked as the decode worker count (integer 1-64)', async (name) => {
    for (const bad of [0, 1.5]) await expect(startServer({ model: NO_MODEL, port: 0, [name]: bad })).rejects.toThrow(/^decodeConcurrency must be an integer from 1 to 64 \(threads\); got /);
  });

  it('both given and different: TypeError', async () => {
    await expect(startServer({ model: NO_MODEL, port: 0, decodeConcurrency: 1, maxConcurrentDecodes: 2 })).rejects.toThrow(TypeError);
  });

});
