// `ganomaly train --out RUN --resume` restores the run's own config (issue 13): a 1-epoch run on
// the cpu backend resumed without options does not train on to the default 15 epochs on
// --backend auto, and does not rewrite config.json; explicit values change only themselves.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../../src/cli-args.js';
import { run } from '../../../src/cli/train.js';
import { train } from '../../../src/train/index.js';
import { tinyTrainConfig } from '../../helpers/tiny-run.js';

async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const log = vi.spyOn(console, 'log').mockImplementation((s) => void (out += `${String(s)}\n`));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await run(argv), out };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

const json = async (f: string) => JSON.parse(await readFile(f, 'utf8')) as Record<string, unknown>;

describe('train --resume', () => {
  it('restores epochs, backend and everything else from the run, says so, and changes only what is given', async () => {
    const cfg = tinyTrainConfig({ epochs: 1, backend: 'cpu', maxImages: 120, batchSize: 16 });
    await train(cfg);
    const configFile = path.join(cfg.out, 'config.json');
    const before = await json(configFile);
    expect(before).toMatchObject({ epochs: 1, backend: 'cpu' });

    const r1 = await cli(['--out', cfg.out, '--resume']);
    expect(r1.code).toBe(0);
    expect(r1.out).toMatch(/restored the run's config: .*epochs 1, backend cpu, batch 16, .*nothing changed/);
    expect(r1.out).toMatch(/^backend: cpu/m);
    expect(await json(configFile)).toEqual(before);
    expect((await json(path.join(cfg.out, 'history.json')) as unknown as unknown[]).length).toBe(1);

    const r2 = await cli(['--out', cfg.out, '--resume', '--epochs', '2']);
    expect(r2.code).toBe(0);
    expect(r2.out).toMatch(/epochs 2, backend cpu, .*changed: epochs$/m);
    expect(r2.out).toMatch(/^epoch 2: /m);
    expect(await json(configFile)).toEqual({ ...before, epochs: 2 });

    await expect(cli(['--out', cfg.out, '--resume', '--isize', '32'])).rejects.toThrow(UsageError);
    await expect(cli(['--out', cfg.out, '--resume', '--batch-size', '8'])).rejects.toThrow(/cannot change --batch-size \(the run has 16\)/);
    // The original command line repeated with --resume added: the run's own values are accepted.
    const r3 = await cli(['--out', cfg.out, '--resume', '--data', 'fashion-mnist', '--abnormal-class', '0', '--max-images', '120', '--batch-size', '16', '--isize', '16', '--seed', '5', '--epochs', '2']);
    expect(r3.code).toBe(0);
    expect(r3.out).toMatch(/nothing changed/);
    expect(await json(configFile)).toEqual({ ...before, epochs: 2 });
  }, 300_000);
});

describe('training options that used to be misread', () => {
  it('--epochs 0x10 is refused (not 16); Adam betas of 1 or more are refused with the reason', async () => {
    const { rangedOption } = await import('../../../src/cli-args.js');
    const { TRAIN_RANGES } = await import('../../../src/option-ranges.js');
    expect(() => rangedOption('0x10', TRAIN_RANGES.epochs)).toThrow(/--epochs must be an integer from 1 to 100000; got '0x10'/);
    expect(() => rangedOption('1e3', TRAIN_RANGES.epochs)).toThrow(RangeError);
    expect(rangedOption('16', TRAIN_RANGES.epochs)).toBe(16);
    const { validateTrainConfig } = await import('../../../src/train/trainer.js');
    const cfg = tinyTrainConfig();
    expect(() => validateTrainConfig({ ...cfg, beta1: 1 })).toThrow(RangeError);
    expect(() => validateTrainConfig({ ...cfg, beta2: 1.5 })).toThrow(/beta2 must be a number in \[0, 1\); got 1.5/);
    expect(() => validateTrainConfig(cfg)).not.toThrow();
  });
});

describe('writeFileAtomic', () => {
  it('leaves no temporary file behind when the write fails', async () => {
    const { mkdtemp, mkdir, readdir, writeFile: wf } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { writeFileAtomic } = await import('../../../src/io/write-atomic.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'ganomaly-atomic-'));
    await mkdir(path.join(dir, 'target'));
    await wf(path.join(dir, 'target', 'x'), 'occupied'); // rename onto a non-empty folder fails
    await expect(writeFileAtomic(path.join(dir, 'target'), 'data')).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['target']);
  });
});

describe('IDX gzip bomb', () => {
  it('decompression stops at the cap with a DataError', async () => {
    const { mkdtemp, writeFile: wf } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { gzipSync } = await import('node:zlib');
    const { readIdxFile } = await import('../../../src/data/idx.js');
    const { DataError } = await import('../../../src/data/index.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'ganomaly-idx-'));
    const header = Buffer.from([0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28]); // 10000 × 28 × 28
    const file = path.join(dir, 'train-images-idx3-ubyte.gz');
    await wf(file, gzipSync(Buffer.concat([header, Buffer.alloc(8 << 20)]))); // 8 MB of zeros: ~8 KB gzipped
    const e = await readIdxFile(file, 1 << 20).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toMatch(/decompresses to more than 1048576 bytes/);
  });
});

describe('training images over the pixel limit', () => {
  it('a 25.5 MP image in a training folder is a decode failure with the reason, not a 100 MB decode', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const sharp = (await import('sharp')).default;
    const { decodeImageFile } = await import('../../../src/data/index.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'ganomaly-bigtrain-'));
    const file = path.join(dir, 'huge.png');
    await sharp({ create: { width: 5100, height: 5000, channels: 3, background: { r: 5, g: 5, b: 5 } } }).png().toFile(file);
    await expect(decodeImageFile(file)).rejects.toThrow(/larger than the 25 megapixels training decodes/);
  });
});
