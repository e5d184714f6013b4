// Issue 23's untrusted models, end to end: model folders whose graphs carry a correct sha256, byte
// count and core stamp, but are not graphs the exporter writes. createDetector, `ganomaly score`
// and `serve` each refuse them at load with UntrustedGraphError (serve never listens), before ONNX
// Runtime sees them. A graph that is allowed but slower than serve's request timeout loads, and
// serve's /readyz then says not_ready with the reason, on both ports; so does a graph whose
// probe image fails to score.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDetector } from '../../../src/export/onnx/index.js';
import { startServer } from '../../../src/gateway/serve/server.js';
import {
  createDetector,
  MANIFEST_CORE_METADATA_KEY,
  manifestCoreSha256,
  onnxMetadataValue,
  UntrustedGraphError,
} from '../../../src/runtime/node.js';
import { bundleCli } from '../../helpers/cli-bundle.js';
import { constantOfShapeBomb, convChain, expandAtLoad, folderWithGraph, type HostileGraph } from '../../helpers/hostile-graphs.js';
import { makeModelFolder, randomWeights, TINY_CONFIG, writeModelFolder, type TestModel } from '../../helpers/make-model.js';
import { rejection, writeTestPng } from '../../helpers/rejection.js';

let model: TestModel;
let cli: Awaited<ReturnType<typeof bundleCli>>;
let png: string;


beforeAll(async () => {
  model = await makeModelFolder();
  cli = await bundleCli();
  png = await writeTestPng(await mkdtemp(join(tmpdir(), 'ganomaly-img-')), 32);
});

afterAll(async () => {
  await cli?.dispose();
});

const cases: { name: string; graph: () => HostileGraph; subject: RegExp }[] = [
  { name: 'ConstantOfShape → ReduceSum, as the fp16 variant', graph: () => constantOfShapeBomb(model.manifest), subject: /^node 'bomb\/ConstantOfShape' \(ConstantOfShape\)$/ },
  { name: 'an Expand folded to a 20000² constant at session creation', graph: () => expandAtLoad(model.manifest), subject: /^node 'expand\/Expand' \(Expand\)$/ },
  { name: 'allowed operators chained past the work cap', graph: () => convChain(model.manifest), subject: /^node 'slow\/mix\d+' \(Conv\)$/ },
];

describe.each(cases)('issue 23: $name', ({ graph, subject }) => {
  let g: HostileGraph;
  let dir: string;
  beforeAll(async () => {
    g = graph();
    dir = await folderWithGraph(model, g);
  });

  it('passes every integrity check: sha256 and bytes in the manifest, the core stamp', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const bytes = new Uint8Array(await readFile(join(dir, g.file)));
    expect(manifest.files[g.file]).toMatchObject({ sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length });
    expect(onnxMetadataValue(bytes, MANIFEST_CORE_METADATA_KEY)).toBe(manifestCoreSha256(manifest));
  });

  it('createDetector refuses it with UntrustedGraphError naming the node', async () => {
    for (const verifyIntegrity of [true, false]) {
      const e = await rejection(createDetector({ model: dir, precision: g.precision, executionProviders: ['cpu'], verifyIntegrity, logger: null }));
      expect(e).toBeInstanceOf(UntrustedGraphError);
      expect((e as UntrustedGraphError).code).toBe('model_untrusted_graph');
      expect((e as UntrustedGraphError).subject).toMatch(subject);
      expect((e as UntrustedGraphError).file).toBe(g.file);
    }
  });

  it('`ganomaly score` exits 1 with one line naming it', async () => {
    const r = await cli.run(['score', '--model', dir, '--precision', g.precision, '--providers', 'cpu', png]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^ganomaly: UntrustedGraphError: ${g.file.replace(/\./g, '\\.')} is not a graph this runtime accepts: node '`));
    expect(r.stdout).toBe('');
  });

  it('serve refuses to start: it never listens, so it never says ready', async () => {
    const e = await rejection(startServer({ model: dir, precision: g.precision, port: 0, providers: ['cpu'] }));
    expect(e).toBeInstanceOf(UntrustedGraphError);
    expect((e as UntrustedGraphError).subject).toMatch(subject);
  });
});

describe('serve /readyz after load: one probe image scored within the request timeout', () => {
  it('an allowed graph slower than timeoutMs loads, but /readyz says not_ready with the reason on both ports', async () => {
    // ~0.6 G multiply-adds per image: milliseconds or more on any CPU, never within 1 ms.
    const dir = await folderWithGraph(model, convChain(model.manifest, 4, 512));
    const s = await startServer({ model: dir, port: 0, providers: ['cpu'], timeoutMs: 1 });
    try {
      expect(s.notReady).toMatch(/took longer than the request timeout \(1 ms\)/);
      const main = await fetch(`${s.url}/readyz`);
      expect(main.status).toBe(503);
      expect(((await main.json()) as { error: { code: string; message: string } }).error).toEqual({ code: 'not_ready', message: s.notReady });
      const health = await fetch(`${s.healthUrl}/readyz`);
      expect([health.status, await health.json()]).toEqual([503, { status: 'not_ready', reason: s.notReady }]);
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200); // alive, just not to be sent traffic
    } finally {
      await s.close();
    }
    // The same graph under the default 30 s timeout is ready.
    const ok = await startServer({ model: dir, port: 0, providers: ['cpu'] });
    try {
      expect(ok.notReady).toBeUndefined();
      expect((await fetch(`${ok.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${ok.healthUrl}/readyz`)).status).toBe(200);
    } finally {
      await ok.close();
    }
  });

  it('a graph whose probe image scores NaN: not_ready, with the error code', async () => {
    const w = randomWeights(TINY_CONFIG, 7);
    const first = Object.keys(w).find((k) => k.startsWith('E.') && k.endsWith('.w'))!;
    w[first]!.data.fill(1e30);
    const detector = buildDetector(TINY_CONFIG, w);
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-nan-'));
    const m = structuredClone(model.manifest);
    m.files['detector.onnx'] = { ...m.files['detector.onnx']!, sha256: createHash('sha256').update(detector).digest('hex'), bytes: detector.length };
    await writeModelFolder(dir, m, detector);
    const s = await startServer({ model: dir, port: 0, providers: ['cpu'], healthPort: false });
    try {
      expect(s.notReady).toMatch(/^the probe image could not be scored \(non_finite_score: /);
      expect((await fetch(`${s.url}/readyz`)).status).toBe(503);
    } finally {
      await s.close();
    }
  });
});
