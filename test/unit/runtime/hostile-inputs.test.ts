// Bad input against the runtime and `ganomaly score` (issue 13): a graph that does not match its
// manifest, files that are not files or never end, model URLs that stream forever or never
// answer, non-finite preprocessing and scores, small files that decode to huge images. Every
// fixture is made here, in a temp folder; every case ends in a typed error or a bounded answer.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildDetector } from '../../../src/export/onnx/index.js';
import { jsonDepthExceeds } from '../../../src/runtime/core/manifest.js';
import {
  createDetector,
  ImageDecodeError,
  InputLimitError,
  IntegrityError,
  ManifestError,
  MANIFEST_CORE_METADATA_KEY,
  manifestCoreSha256,
  ModelLoadError,
  NonFiniteScoreError,
  onnxMetadataValue,
} from '../../../src/runtime/node.js';
import { startServer } from '../../../src/gateway/serve/server.js';
import type { Manifest } from '../../../src/types.js';
import { bundleCli } from '../../helpers/cli-bundle.js';
import { makeModelFolder, randomWeights, TINY_CONFIG, writeModelFolder, type TestModel } from '../../helpers/make-model.js';
import { rejection, within, writeTestPng } from '../../helpers/rejection.js';

let model: TestModel;
let cli: Awaited<ReturnType<typeof bundleCli>>;
let png: string;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A model folder holding `detector` under `manifest` with its files entry made to match. */
async function folderWith(manifest: Manifest, detector: Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ganomaly-bad-'));
  const m = structuredClone(manifest);
  m.files['detector.onnx'] = { ...m.files['detector.onnx']!, sha256: sha(detector), bytes: detector.length };
  await writeModelFolder(dir, m, detector);
  return dir;
}

beforeAll(async () => {
  model = await makeModelFolder();
  cli = await bundleCli();
  png = await writeTestPng(await mkdtemp(join(tmpdir(), 'ganomaly-img-')), 40);
});

afterAll(async () => {
  await cli?.dispose();
});

describe('a graph that does not match its manifest', () => {
  let mismatched: string;
  beforeAll(async () => {
    // detector.onnx built for 32×32, manifest saying 64×64 everywhere (a consistent manifest).
    const m = structuredClone(model.manifest);
    m.model = { ...m.model, isize: 64 };
    m.input.shape = ['N', 1, 64, 64];
    m.preprocessing.resize = { ...m.preprocessing.resize, width: 64, height: 64 };
    mismatched = await folderWith(m, model.detector);
  });

  it('createDetector rejects with a one-line ModelLoadError', async () => {
    const e = await rejection(createDetector({ model: mismatched, executionProviders: ['cpu'], logger: null }));
    expect(e).toBeInstanceOf(ModelLoadError);
    expect(e.message).toMatch(/cannot run the manifest's input shape \[1, 1, 64, 64\]/);
    expect(e.message).not.toContain('\n');
  });

  it('serve refuses to start (it never reports /readyz 200)', async () => {
    const e = await rejection(startServer({ model: mismatched, port: 0, providers: ['cpu'] }));
    expect(e).toBeInstanceOf(ModelLoadError);
  });

  it('score exits 1 with one line on stderr, no ORT stack', async () => {
    const r = await cli.run(['score', '--model', mismatched, '--providers', 'cpu', png]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ganomaly: ModelLoadError: detector\.onnx cannot run/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('bounded reads', () => {
  it('detector.onnx pointing at /dev/zero: a typed error at once, nothing read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-zero-'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(model.manifest));
    await symlink('/dev/zero', join(dir, 'detector.onnx'));
    for (const verifyIntegrity of [true, false]) {
      const e = await within(5000, rejection(createDetector({ model: dir, executionProviders: ['cpu'], verifyIntegrity, logger: null })));
      expect(e).toBeInstanceOf(InputLimitError);
      expect(e.message).toMatch(/is a device, not a regular file/);
    }
  });

  it('detector.onnx bigger than the manifest says: IntegrityError, read stops at the manifest size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-big-'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(model.manifest));
    await writeFile(join(dir, 'detector.onnx'), Buffer.concat([Buffer.from(model.detector), Buffer.alloc(8 << 20)]));
    const e = await rejection(createDetector({ model: dir, executionProviders: ['cpu'], logger: null }));
    expect(e).toBeInstanceOf(IntegrityError);
    expect(e.message).toMatch(/bytes \(or more\) but the manifest says/);
  });

  it('a FIFO as manifest.json, and as an image: typed errors, no hang', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-fifo-'));
    execFileSync('mkfifo', [join(dir, 'manifest.json')]);
    await writeFile(join(dir, 'detector.onnx'), model.detector);
    const e = await within(5000, rejection(createDetector({ model: dir, executionProviders: ['cpu'], logger: null })));
    expect(e).toBeInstanceOf(InputLimitError);
    expect(e.message).toMatch(/is a FIFO/);

    const fifoImage = join(dir, 'image.png');
    execFileSync('mkfifo', [fifoImage]);
    const d = await createDetector({ model: model.dir, executionProviders: ['cpu'], logger: null });
    try {
      for (const bad of [fifoImage, '/dev/zero']) {
        const err = await within(5000, rejection(d.score(bad)));
        expect(err).toBeInstanceOf(ImageDecodeError);
        expect(err.message).toMatch(/not a regular file/);
      }
      expect(Number.isFinite((await d.score(png)).score)).toBe(true); // still healthy
    } finally {
      await d.dispose();
    }
    const r = await cli.run(['score', '--model', model.dir, '--providers', 'cpu', '--json', fifoImage, png], 20_000);
    expect(r.code).toBe(1);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; error?: string; score?: number });
    expect(rows.find((x) => x.path === fifoImage)!.error).toMatch(/FIFO, not a regular file/);
    expect(typeof rows.find((x) => x.path === png)!.score).toBe('number');
  });

  it('an oversized manifest.json is refused before it is parsed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-hugemanifest-'));
    await writeFile(join(dir, 'manifest.json'), `${' '.repeat(5 << 20)}${JSON.stringify(model.manifest)}`);
    await writeFile(join(dir, 'detector.onnx'), model.detector);
    const e = await rejection(createDetector({ model: dir, executionProviders: ['cpu'], logger: null }));
    expect(e).toBeInstanceOf(InputLimitError);
    expect(e.message).toMatch(/more than the limit of 4194304/);
  });

  it('a deeply nested manifest.json (4 MiB of brackets) is refused before JSON.parse, in milliseconds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-nestedmanifest-'));
    const core = JSON.stringify(model.manifest);
    const n = ((4 << 20) - core.length - 16) >> 1;
    await writeFile(join(dir, 'manifest.json'), `${core.slice(0, -1)},"x":${'['.repeat(n)}${']'.repeat(n)}}`);
    await writeFile(join(dir, 'detector.onnx'), model.detector);
    // Refused before JSON.parse ever sees it (parsing it took ~0.6 s and ~200 MB before the check).
    const parse = vi.spyOn(JSON, 'parse');
    let e: Error;
    try {
      e = await rejection(createDetector({ model: dir, executionProviders: ['cpu'], logger: null }));
      expect(parse.mock.calls.filter(([text]) => typeof text === 'string' && text.length > 1 << 20)).toEqual([]);
    } finally {
      parse.mockRestore();
    }
    expect(e).toBeInstanceOf(ManifestError);
    expect(e.message).toMatch(/nests arrays or objects more than 32 levels deep/);
    // Brackets inside strings are text, not nesting; 32 levels still load.
    const inString = `{"notes":"${'[{'.repeat(100)}\\"]"}`; // an escaped quote inside, too
    expect(typeof JSON.parse(inString).notes).toBe('string');
    expect(jsonDepthExceeds(inString, 32)).toBe(false);
    expect(jsonDepthExceeds('['.repeat(32) + ']'.repeat(32), 32)).toBe(false);
    expect(jsonDepthExceeds('['.repeat(33) + ']'.repeat(33), 32)).toBe(true);
  });

  describe('model URLs', () => {
    let server: http.Server;
    let base: string;
    const seen: string[] = [];
    beforeAll(async () => {
      const manifestText = JSON.stringify(model.manifest);
      server = http.createServer((req, res) => {
        seen.push(req.url!);
        const [path, query] = req.url!.split('?');
        if (path === '/silent/manifest.json') return; // never answers
        if (path === '/forever/manifest.json') return void res.end(manifestText);
        if (path === '/forever/detector.onnx' || path === '/endless-manifest/manifest.json') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          const chunk = Buffer.alloc(64 * 1024, 32);
          const pump = () => { while (res.write(chunk)); };
          res.on('drain', pump);
          pump();
          return;
        }
        if (path === '/signed/manifest.json' || path === '/signed/detector.onnx') {
          if (query !== 'sig=abc%2F1') return void res.writeHead(403).end();
          return void res.end(path.endsWith('.json') ? manifestText : Buffer.from(model.detector));
        }
        res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it('a server that streams forever is cut off at the size the manifest gives', async () => {
      const e1 = await within(10_000, rejection(createDetector({ model: `${base}/forever/`, executionProviders: ['cpu'], logger: null })));
      expect(e1).toBeInstanceOf(IntegrityError);
      expect(e1.message).toMatch(/reading stopped there/);
    });

    it('a server that never answers times out', async () => {
      const e = await within(10_000, rejection(createDetector({ model: `${base}/silent/`, executionProviders: ['cpu'], fetchTimeoutMs: 300, logger: null })));
      expect(e).toBeInstanceOf(InputLimitError);
      expect(e.message).toMatch(/sent nothing for 300 ms/);
      const e2 = await within(10_000, rejection(createDetector({ model: `${base}/endless-manifest/`, executionProviders: ['cpu'], logger: null })));
      expect(e2).toBeInstanceOf(InputLimitError);
    });

    it('keeps the query string of a presigned folder URL on every file', async () => {
      const d = await createDetector({ model: `${base}/signed/?sig=abc%2F1`, executionProviders: ['cpu'], logger: null });
      await d.dispose();
      expect(seen.filter((u) => u.startsWith('/signed/'))).toEqual(['/signed/manifest.json?sig=abc%2F1', '/signed/detector.onnx?sig=abc%2F1']);
    });
  });
});

describe('non-finite preprocessing and scores', () => {
  it('a manifest whose std is 1e-300 is refused at load', async () => {
    const m = structuredClone(model.manifest);
    m.preprocessing.std = [1e-300];
    const dir = await folderWith(m, model.detector);
    const e = await rejection(createDetector({ model: dir, executionProviders: ['cpu'], logger: null }));
    expect(e).toBeInstanceOf(ManifestError);
    expect(e.message).toMatch(/scores would not be finite/);
    const r = await cli.run(['score', '--model', dir, '--providers', 'cpu', png]);
    expect([r.code, r.stderr.trim().split('\n').length]).toEqual([1, 1]);
  });

  describe('a graph that scores NaN', () => {
    let nanDir: string;
    beforeAll(async () => {
      const w = randomWeights(TINY_CONFIG, 7);
      const first = Object.keys(w).find((k) => k.startsWith('E.') && k.endsWith('.w'))!;
      w[first]!.data.fill(1e30); // finite weights whose activations overflow float32: the score is Inf or NaN
      nanDir = await folderWith(model.manifest, buildDetector(TINY_CONFIG, w));
    });

    it('score() rejects with NonFiniteScoreError', async () => {
      const d = await createDetector({ model: nanDir, executionProviders: ['cpu'], logger: null });
      try {
        expect(await rejection(d.score(png))).toBeInstanceOf(NonFiniteScoreError);
      } finally {
        await d.dispose();
      }
    });

    it('`score` exits 1 with one line, printing no NaN result', async () => {
      const r = await cli.run(['score', '--model', nanDir, '--providers', 'cpu', png]);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toMatch(/NaN|ANOMALY|\bnormal\b/);
      expect(r.stderr.trim()).toMatch(/^ganomaly: NonFiniteScoreError: /);
    });

    it('serve answers 500 with a JSON error, never 200 with null', async () => {
      const s = await startServer({ model: nanDir, port: 0, providers: ['cpu'] });
      try {
        const res = await fetch(`${s.url}/v1/score`, { method: 'POST', body: await readFile(png), headers: { 'content-type': 'image/png' } });
        expect(res.status).toBe(500);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('non_finite_score');
        expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
      } finally {
        await s.close();
      }
    });
  });
});

describe('score: small files that decode to huge images', () => {
  it('decodes in runs that fit --max-decoded, so peak memory stays bounded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-hugeimg-'));
    // 8 PNGs of a few KB, each 4000×4000 RGBA = 64 MB decoded (512 MB for the default batch of 16).
    const one = await sharp({ create: { width: 4000, height: 4000, channels: 4, background: { r: 40, g: 90, b: 140, alpha: 1 } } }).png().toBuffer();
    for (let i = 0; i < 8; i++) await writeFile(join(dir, `${i}.png`), one);
    const r = await cli.run(['score', '--model', model.dir, '--providers', 'cpu', '--json', '--max-decoded', '80mb', dir], 120_000);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(8);
    // The same files with a budget that holds all eight: the CLI then decodes decodeConcurrency
    // (4) at once, 256 MB of pixels. One 64 MB image at a time peaks at least two images lower
    // (measured: 318 vs 485 MiB peak RSS). A comparison within the test, not a bound tuned to
    // this machine.
    const all = await cli.run(['score', '--model', model.dir, '--providers', 'cpu', '--json', '--max-decoded', '1gb', dir], 120_000);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe(r.stdout);
    expect(r.maxRss).toBeLessThan(all.maxRss - 2 * 64e6);
  }, 180_000);
});

describe('a manifest edited after export', () => {
  const prebuilt = 'models/fashion-mnist-trouser';
  async function copyWith(edit: (m: Record<string, any>) => void): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'ganomaly-core-'));
    for (const f of ['detector.onnx', 'detector.fp16.onnx']) await writeFile(join(dir, f), await readFile(join(prebuilt, f)));
    const m = JSON.parse(await readFile(join(prebuilt, 'manifest.json'), 'utf8')) as Record<string, any>;
    edit(m);
    await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
    return dir;
  }
  const image = { data: new Uint8Array(32 * 32).fill(128), width: 32, height: 32, channels: 1 as const };

  it('is refused at load with a ManifestError when its core no longer matches the hash the graph carries', async () => {
    const dir = await copyWith((m) => {
      m.preprocessing.std = [0.25]; // still a valid manifest; the graph was exported for 0.5
    });
    await expect(createDetector({ model: dir })).rejects.toThrow(ManifestError);
    await expect(createDetector({ model: dir })).rejects.toThrow(/manifest\.json was changed after export: its core .* but detector\.onnx was exported for [0-9a-f]{64}/);
    // The variant carries the same stamp.
    await expect(createDetector({ model: dir, precision: 'fp16' })).rejects.toThrow(/detector\.fp16\.onnx was exported for/);
    // The user can still load it on purpose.
    const d = await createDetector({ model: dir, verifyIntegrity: false });
    expect(Number.isFinite((await d.score(image)).score)).toBe(true);
    await d.dispose();
  });

  it('loads when only what lies outside the core changed (threshold, notes), and as exported', async () => {
    const dir = await copyWith((m) => {
      m.threshold = { ...m.threshold, value: m.threshold.value * 2 };
    });
    const d = await createDetector({ model: dir });
    await d.dispose();
    const asExported = await createDetector({ model: prebuilt });
    await asExported.dispose();
  });

  it('the metadata reader walks only well-formed protobuf and never throws', async () => {
    const bytes = new Uint8Array(await readFile(join(prebuilt, 'detector.onnx')));
    const m = JSON.parse(await readFile(join(prebuilt, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(onnxMetadataValue(bytes, MANIFEST_CORE_METADATA_KEY)).toBe(manifestCoreSha256(m));
    expect(onnxMetadataValue(bytes, 'no.such.key')).toBeUndefined();
    for (const cut of [1, 7, 100, bytes.length >> 1, bytes.length - 3]) expect(onnxMetadataValue(bytes.subarray(0, cut), MANIFEST_CORE_METADATA_KEY)).toBeUndefined();
    expect(onnxMetadataValue(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 'k')).toBeUndefined();
    expect(onnxMetadataValue(new Uint8Array(1024).fill(0x72), "k")).toBeUndefined(); // field-14 tags whose lengths overrun the bytes
  });
});
