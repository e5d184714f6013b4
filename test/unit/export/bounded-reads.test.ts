// The toolkit's readers (issue 23): quantize and triton read detector.onnx and manifest.json through
// the bounded reader (linked to /dev/zero they streamed 5 GiB in 42 s; as a FIFO they hung; a
// manifest on /dev/zero ended in "Invalid string length" after 612 MiB), and so do the run folder's
// config, checkpoint and history, IDX files and training images. Each case is a typed error, at once.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFile } from '../../../src/data/decode.js';
import { DataError } from '../../../src/data/errors.js';
import { readIdxFile } from '../../../src/data/idx.js';
import { EvalError } from '../../../src/eval/errors.js';
import { readAnomalyBoxes } from '../../../src/eval/localisation.js';
import { ExportError } from '../../../src/export/errors.js';
import { readRunFolder } from '../../../src/export/runFolder.js';
import { writeTritonRepository } from '../../../src/export/triton.js';
import { quantizeModel } from '../../../src/export/variants.js';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '../../../src/train/checkpoint.js';
import { makeModelFolder, type TestModel } from '../../helpers/make-model.js';
import { rejection as rejectionWithin } from '../../helpers/rejection.js';

let model: TestModel;
const tmp = (p: string) => fs.mkdtemp(join(tmpdir(), p));

const rejection = (p: Promise<unknown>) => rejectionWithin(p, 10_000);

/** How a file is replaced by something that is not a bounded regular file. */
const HOSTILE = {
  '/dev/zero': (p: string) => fs.symlink('/dev/zero', p),
  FIFO: async (p: string) => void execFileSync('mkfifo', [p]),
  'a sparse 3 GiB file': async (p: string) => {
    await fs.writeFile(p, '');
    await fs.truncate(p, 3 * 2 ** 30);
  },
} as const;

/** A copy of the test model with `file` replaced the hostile way. */
async function modelWith(file: 'detector.onnx' | 'manifest.json', how: keyof typeof HOSTILE): Promise<string> {
  const dir = join(await tmp('ganomaly-hostile-model-'), 'm');
  await fs.cp(model.dir, dir, { recursive: true });
  await fs.rm(join(dir, file));
  await HOSTILE[how](join(dir, file));
  return dir;
}

beforeAll(async () => {
  model = await makeModelFolder();
});

describe('quantize and triton read the model folder bounded', () => {
  for (const file of ['detector.onnx', 'manifest.json'] as const) {
    for (const how of Object.keys(HOSTILE) as (keyof typeof HOSTILE)[]) {
      it(`${file} as ${how}: an ExportError at once, the folder unchanged`, async () => {
        const dir = await modelWith(file, how);
        const before = (await fs.readdir(join(dir, '..'))).sort();
        const want = how === 'a sparse 3 GiB file'
          ? file === 'detector.onnx' ? /has 3221225472 bytes but the manifest says \d+ \(not read\)/ : /more than the limit of 4194304/
          : how === 'FIFO' ? /is a FIFO, not a regular file/ : /is a device, not a regular file/;
        const t = await rejection(writeTritonRepository(dir, await tmp('ganomaly-triton-out-')));
        expect(t).toBeInstanceOf(ExportError);
        expect(t.message).toMatch(want);
        const q = await rejection(quantizeModel(dir));
        expect(q).toBeInstanceOf(ExportError);
        expect(q.message).toMatch(want);
        // No staged copy or lock left beside it (quantize refuses before copying the folder).
        expect((await fs.readdir(join(dir, '..'))).sort()).toEqual(before);
      });
    }
  }

  it('a manifest whose detector.onnx is 2 GiB or more is refused from the manifest, nothing read', async () => {
    const dir = await modelWith('detector.onnx', 'a sparse 3 GiB file');
    const m = JSON.parse(await fs.readFile(join(dir, 'manifest.json'), 'utf8')) as { files: Record<string, { bytes: number }> };
    m.files['detector.onnx']!.bytes = 3 * 2 ** 30;
    await fs.writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    const e = await rejection(writeTritonRepository(dir, await tmp('ganomaly-triton-out-')));
    expect(e).toBeInstanceOf(ExportError);
    expect(e.message).toMatch(/says detector\.onnx has 3221225472 bytes, more than the 2147483647 a model graph may have/);
  });

  it('a FIFO elsewhere in the folder: quantize fails with an ExportError naming the folder, not its staged copy', async () => {
    const dir = join(await tmp('ganomaly-hostile-model-'), 'm');
    await fs.cp(model.dir, dir, { recursive: true });
    execFileSync('mkfifo', [join(dir, 'notes.txt')]);
    const e = await rejection(quantizeModel(dir));
    expect(e).toBeInstanceOf(ExportError);
    expect(e.message).toMatch(/regular files only/);
    expect(e.message).not.toMatch(/\.export-/);
    expect((await fs.readdir(join(dir, '..'))).sort()).toEqual(['m']);
  });
});

describe('run folders, checkpoints, IDX files and training images', () => {
  it('config.json on /dev/zero or a FIFO: readRunFolder refuses it at once', async () => {
    for (const how of ['/dev/zero', 'FIFO'] as const) {
      const run = await tmp('ganomaly-hostile-run-');
      await HOSTILE[how](join(run, 'config.json'));
      const e = await rejection(readRunFolder(run));
      expect(e).toBeInstanceOf(ExportError);
      expect(e.message).toMatch(/config\.json is missing or unreadable \(config\.json is (a device|a FIFO), not a regular file/);
    }
  });

  it('a checkpoint index or blob that is not a regular file, or bigger than its index says: CheckpointError', async () => {
    const run = await tmp('ganomaly-hostile-ckpt-');
    execFileSync('mkfifo', [join(run, 'checkpoint.json')]);
    const e1 = await rejection(loadCheckpoint(run));
    expect(e1).toBeInstanceOf(CheckpointError);
    expect(e1.message).toMatch(/checkpoint\.json is a FIFO/);
    await fs.rm(join(run, 'checkpoint.json'));
    await fs.writeFile(join(run, 'checkpoint.json'), JSON.stringify({ format: 1, blob: 'checkpoint-x.bin', sha256: '0', bytes: 16, tensors: [], state: {} }));
    await fs.symlink('/dev/zero', join(run, 'checkpoint-x.bin'));
    const e2 = await rejection(loadCheckpoint(run));
    expect(e2).toBeInstanceOf(CheckpointError);
    expect(e2.message).toMatch(/is a device, not a regular file/);
    await fs.rm(join(run, 'checkpoint-x.bin'));
    await HOSTILE['a sparse 3 GiB file'](join(run, 'checkpoint-x.bin'));
    const e3 = await rejection(loadCheckpoint(run));
    expect(e3).toBeInstanceOf(CheckpointError);
    expect(e3.message).toMatch(/has 3221225472 bytes, expected 16/);
  });

  it('training refuses to write a checkpoint its loader could not read (2 GiB or more), before allocating it', async () => {
    const run = await tmp('ganomaly-big-ckpt-');
    const huge = { shape: [2 ** 29], data: { length: 2 ** 29 } as unknown as Float32Array }; // 2 GiB of float32, never allocated
    const e = await rejection(saveCheckpoint(run, 'e1s0', { w: huge }, {}));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(/would have 2147483648 bytes, more than the 2147483647 one file may hold/);
    expect(await fs.readdir(run)).toEqual([]);
  });

  it("eval's anomalies.json as a FIFO or /dev/zero: an EvalError at once; none at all is no boxes", async () => {
    for (const how of ['/dev/zero', 'FIFO'] as const) {
      const data = await tmp('ganomaly-hostile-boxes-');
      expect((await readAnomalyBoxes(data)).size).toBe(0);
      await HOSTILE[how](join(data, 'anomalies.json'));
      const e = await rejection(readAnomalyBoxes(data));
      expect(e).toBeInstanceOf(EvalError);
      expect(e.message).toMatch(/anomalies\.json is (a device|a FIFO), not a regular file/);
    }
  });

  it('an IDX file or a training image that is a FIFO or /dev/zero: a DataError / decode error at once', async () => {
    const dir = await tmp('ganomaly-hostile-data-');
    for (const how of ['/dev/zero', 'FIFO'] as const) {
      const idx = join(dir, `${how === 'FIFO' ? 'fifo' : 'zero'}-images-idx3-ubyte`);
      await HOSTILE[how](idx);
      const e = await rejection(readIdxFile(idx));
      expect(e).toBeInstanceOf(DataError);
      expect(e.message).toMatch(/cannot read \(the file is (a device|a FIFO), not a regular file/);
      const image = join(dir, `${how === 'FIFO' ? 'fifo' : 'zero'}.png`);
      await HOSTILE[how](image);
      expect((await rejection(decodeImageFile(image))).message).toMatch(/not a regular file/);
    }
  });
});
