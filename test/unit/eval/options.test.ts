// evaluateModel's renamed option: executionProviders, with providers as its deprecated alias.
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateModel } from '../../../src/eval/evaluate.js';
import { makeModelFolder, TINY_CONFIG, type TestModel } from '../../helpers/make-model.js';

let model: TestModel;

beforeAll(async () => {
  model = await makeModelFolder(TINY_CONFIG, 1);
});

describe('evaluateModel: executionProviders and its deprecated alias providers', () => {
  it('both given and different: TypeError, before the model is loaded', async () => {
    await expect(evaluateModel({ model: '/nonexistent/ganomaly-model', executionProviders: ['cpu'], providers: ['cuda'] })).rejects.toThrow(TypeError);
  });

  // An empty list reaches the runtime's provider fallback, which refuses it: an ignored option
  // would have used the default ['cpu'].
  it.each(['executionProviders', 'providers'] as const)('%s is handed to the detector', async (name) => {
    await expect(evaluateModel({ model: model.dir, [name]: [] })).rejects.toThrow(/executionProviders must name at least one provider/);
  });
});
