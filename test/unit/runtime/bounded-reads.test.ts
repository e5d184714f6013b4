// The one bounded reader (issue 23) and what reads through it in the runtime: a ≥ 2 GiB graph whose
// manifest agrees is a typed error (it aborted Node natively, rc 134, in one int32-sized read),
// reads go in chunks, a path is never handed to sharp, and a 5000-character path is shortened in
// messages. Sparse files make the big cases cheap: nothing over the cap is ever read.
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createDetector,
  displayPath,
  ImageDecodeError,
  InputLimitError,
  MAX_DETECTOR_BYTES,
  MAX_READ_BYTES,
  READ_CHUNK_BYTES,
  readImageInfo,
  readRegularFile,
  readTextFile,
  renderHeatmapPng,
} from '../../../src/runtime/node.js';
import { startServer } from '../../../src/gateway/serve/server.js';
import { bundleCli } from '../../helpers/cli-bundle.js';
import { makeModelFolder, writeModelFolder, type TestModel } from '../../helpers/make-model.js';
import { rejection, within, writeTestPng } from '../../helpers/rejection.js';

let model: TestModel;
let cli: Awaited<ReturnType<typeof bundleCli>>;
let png: string;
let dir: string;

beforeAll(async () => {
  model = await makeModelFolder();
  cli = await bundleCli();
  dir = await mkdtemp(join(tmpdir(), 'ganomaly-reads-'));
  png = await writeTestPng(dir, 40);
});

afterAll(async () => {
  await cli?.dispose();
});

describe('readRegularFile', () => {
  it('refuses a FIFO, /dev/zero and a folder before reading, with InputLimitError', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const zero = join(dir, 'zero');
    await symlink('/dev/zero', zero);
    for (const [p, kind] of [[fifo, 'a FIFO'], [zero, 'a device'], [dir, 'a folder']] as const) {
      const e = await within(5000, rejection(readRegularFile(p, 1024)));
      expect(e).toBeInstanceOf(InputLimitError);
      expect((e as InputLimitError).code).toBe('input_limit');
      expect(e.message).toBe(`${p} is ${kind}, not a regular file; refusing to read it`);
      expect(await within(5000, rejection(readTextFile(p, 1024)))).toBeInstanceOf(InputLimitError);
    }
  });

  it('refuses a file over the cap from its size, with the size, reading nothing (a sparse 3 GiB file)', async () => {
    const big = join(dir, 'big');
    await writeFile(big, '');
    await truncate(big, 3 * 2 ** 30);
    const e = await rejection(readRegularFile(big, MAX_READ_BYTES));
    expect(e).toBeInstanceOf(InputLimitError);
    expect((e as InputLimitError).size).toBe(3 * 2 ** 30);
    expect(e.message).toMatch(/has 3221225472 bytes, more than the limit of 2147483647$/);
  });

  it('takes no cap of 2 GiB or more: one whole-file read is held below 2^31 (RangeError)', async () => {
    for (const cap of [2 ** 31, 5e9, -1, 1.5, Number.NaN]) {
      await expect(readRegularFile(png, cap)).rejects.toBeInstanceOf(RangeError);
    }
    expect(MAX_READ_BYTES).toBe(2 ** 31 - 1);
    expect(MAX_DETECTOR_BYTES).toBeLessThanOrEqual(MAX_READ_BYTES);
  });

  it('reads in chunks of at most READ_CHUNK_BYTES, and returns every byte', async () => {
    const file = join(dir, 'chunks');
    const size = 2 * READ_CHUNK_BYTES + 5;
    const fh = await open(file, 'w');
    await fh.write(Buffer.from('head'), 0, 4, 0);
    await fh.write(Buffer.from('tail!'), 0, 5, size - 5);
    await fh.close();
    const probe = await open(png, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...a: unknown[]) => unknown };
    await probe.close();
    const read = vi.spyOn(proto, 'read');
    let bytes: Uint8Array;
    let lengths: number[];
    try {
      bytes = await readRegularFile(file, size);
      lengths = read.mock.calls.map((c) => c[2] as number);
    } finally {
      read.mockRestore();
    }
    expect(lengths).toEqual([READ_CHUNK_BYTES, READ_CHUNK_BYTES, 5]);
    expect(bytes.length).toBe(size);
    expect(Buffer.from(bytes.subarray(0, 4)).toString()).toBe('head');
    expect(Buffer.from(bytes.subarray(size - 5)).toString()).toBe('tail!');
  });

  it('passes Node errors on with their code, a 5000-character path shortened in the message', async () => {
    const long = join(dir, 'x'.repeat(5000));
    const e = (await rejection(readRegularFile(long, 10))) as NodeJS.ErrnoException;
    expect(e.code).toBe('ENAMETOOLONG');
    expect(e.message.length).toBeLessThan(300);
    expect(e.message).toContain(`(${long.length} characters)`);
    expect(displayPath('/short/path')).toBe('/short/path');
    const missing = (await rejection(readRegularFile(join(dir, 'nope'), 10))) as NodeJS.ErrnoException;
    expect(missing.code).toBe('ENOENT');
  });

  it('readTextFile decodes UTF-8 and drops a byte-order mark (JSON.parse would choke on it)', async () => {
    const f = join(dir, 'bom.json');
    await writeFile(f, '\uFEFF{"é":1}');
    expect(JSON.parse(await readTextFile(f, 100))).toEqual({ é: 1 });
  });
});

describe('a detector.onnx of 2 GiB or more whose manifest agrees', () => {
  let huge: string;
  beforeAll(async () => {
    // 2^31 bytes (sparse): one fh.read of that length aborted Node ("args[3]->IsInt32()", rc 134).
    huge = await mkdtemp(join(tmpdir(), 'ganomaly-2gib-'));
    const m = structuredClone(model.manifest);
    m.files['detector.onnx'] = { ...m.files['detector.onnx']!, bytes: 2 ** 31 };
    await writeModelFolder(huge, m, model.detector);
    await truncate(join(huge, 'detector.onnx'), 2 ** 31);
  });

  it('createDetector rejects with InputLimitError before reading, with or without the integrity check', async () => {
    const e = await rejection(createDetector({ model: huge, executionProviders: ['cpu'], logger: null }));
    expect(e).toBeInstanceOf(InputLimitError);
    expect(e.message).toMatch(/the manifest says detector\.onnx has 2147483648 bytes, more than the 2147483647 a model graph may have/);
    const unchecked = await rejection(createDetector({ model: huge, executionProviders: ['cpu'], verifyIntegrity: false, logger: null }));
    expect(unchecked).toBeInstanceOf(InputLimitError);
    expect((unchecked as InputLimitError).size).toBe(2 ** 31);
  });

  it('`score` exits 1 with one typed line (it aborted with rc 134)', async () => {
    const r = await cli.run(['score', '--model', huge, '--providers', 'cpu', png]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ganomaly: InputLimitError: .*more than the 2147483647 a model graph may have/);
  });

  it('serve refuses to start with the same typed error', async () => {
    expect(await rejection(startServer({ model: huge, port: 0, providers: ['cpu'] }))).toBeInstanceOf(InputLimitError);
  });
});

describe('images from a path are read bounded, never by sharp', () => {
  it('readImageInfo and renderHeatmapPng refuse a FIFO at once (sharp would wait for a writer)', async () => {
    const fifo = join(dir, 'frame.png');
    execFileSync('mkfifo', [fifo]);
    const info = await within(5000, rejection(readImageInfo(fifo, false)));
    expect(info).toBeInstanceOf(ImageDecodeError);
    expect(info.message).toMatch(/is a FIFO, not a regular file/);
    expect((await readImageInfo(png, false)).width).toBe(40);

    const d = await createDetector({ model: model.dir, executionProviders: ['cpu'], logger: null });
    try {
      const result = await d.score(png, { outputs: ['anomalyMap', 'reconstruction'] });
      const opts = { input: fifo, preprocessing: d.manifest.preprocessing, size: 32 };
      const e = await within(5000, rejection(renderHeatmapPng(result, opts)));
      expect(e).toBeInstanceOf(ImageDecodeError);
      const ok = await renderHeatmapPng(result, { ...opts, input: png });
      expect((await sharp(ok).metadata()).width).toBe(96);
    } finally {
      await d.dispose();
    }
  });
});

describe('long paths in CLI errors', () => {
  it('a 5000-character --model path is shown by its ends, in one short line', async () => {
    const long = join(dir, 'a'.repeat(250), 'b'.repeat(4750));
    const r = await cli.run(['score', '--model', long, '--providers', 'cpu', png]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.length).toBeLessThan(400);
    expect(r.stderr).toContain(`(${long.length} characters)`);
    // And an image path: the usage error names it the same way.
    const r2 = await cli.run(['score', '--model', model.dir, '--providers', 'cpu', `${long}.png`]);
    expect(r2.stderr.length).toBeLessThan(400);
    expect(await readFile(png)).toBeTruthy();
  });
});
