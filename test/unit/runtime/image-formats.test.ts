// The one image-format table and the one decoded-size estimate that score, serve and training use.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  bytesPerSample,
  CORE_IMAGE_FORMATS,
  decodedByteSize,
  decodeMemoryBytes,
  IMAGE_FORMATS,
  imageExtensions,
  imageFormatOfMediaType,
  imageMediaTypes,
  ImageDecodeError,
  readImageInfo,
} from '../../../src/runtime/node.js';
import { IMAGE_EXTENSIONS as FOLDER_EXTENSIONS } from '../../../src/data/folder.js';
import { decodedSize } from '../../../src/gateway/serve/inputs.js';
import { readImageHeader } from '../../../src/gateway/serve/image-header.js';

describe('image formats', () => {
  it('training folders and serve take the core formats; score takes every format', () => {
    expect(FOLDER_EXTENSIONS).toEqual(['.png', '.jpg', '.jpeg', '.webp']);
    expect(imageExtensions(CORE_IMAGE_FORMATS)).toEqual(FOLDER_EXTENSIONS);
    expect(imageExtensions()).toEqual(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif']);
    expect(imageMediaTypes(CORE_IMAGE_FORMATS)).toEqual(['image/png', 'image/jpeg', 'image/jpg', 'image/webp']);
  });

  it('maps media types to formats within the formats asked for', () => {
    expect(imageFormatOfMediaType('image/jpg')).toBe('jpeg');
    expect(imageFormatOfMediaType('image/gif')).toBe('gif');
    expect(imageFormatOfMediaType('image/gif', CORE_IMAGE_FORMATS)).toBeUndefined();
    expect(imageFormatOfMediaType('application/octet-stream')).toBeUndefined();
  });

  it('names each format as sharp reports it', async () => {
    const px = sharp(Buffer.alloc(4 * 4 * 3, 90), { raw: { width: 4, height: 4, channels: 3 } });
    for (const f of ['png', 'jpeg', 'webp', 'gif', 'tiff'] as const) {
      const bytes = await px.clone().toFormat(f).toBuffer();
      expect((await readImageInfo(bytes, false)).format).toBe(IMAGE_FORMATS[f].sharpFormat);
    }
  });
});

describe('decoded size', () => {
  it('counts bytes per sample from sharp\'s depth', () => {
    expect(['uchar', 'char', undefined].map(bytesPerSample)).toEqual([1, 1, 1]);
    expect(['ushort', 'short'].map(bytesPerSample)).toEqual([2, 2]);
    expect(['uint', 'int', 'float'].map(bytesPerSample)).toEqual([4, 4, 4]);
    expect(decodedByteSize({ width: 10, height: 7, channels: 3, bytesPerSample: 2 })).toBe(420);
  });

  it('a 16-bit PNG costs the same read from a file (score), by sharp, and by the JS header reader (serve)', async () => {
    const png = await sharp(new Uint16Array(6 * 5 * 3).fill(1000), { raw: { width: 6, height: 5, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    const file = join(await mkdtemp(join(tmpdir(), 'ganomaly-formats-')), 'deep.png');
    await writeFile(file, png);
    const expected = 6 * 5 * 3 * 2;
    expect(decodedByteSize(await readImageInfo(file, false))).toBe(expected);
    expect(decodedByteSize(await readImageInfo(png, false))).toBe(expected);
    expect(decodedByteSize(readImageHeader(png)!)).toBe(expected);
    // What decoding holds (score's runs and serve's budget): 8-bit output + line buffers at 16 bits.
    const memory = 6 * 5 * 3 + Math.ceil(0.3 * expected);
    expect(decodeMemoryBytes(await readImageInfo(file, false))).toBe(memory);
    expect(decodeMemoryBytes(await readImageInfo(png, false))).toBe(memory);
    expect(decodeMemoryBytes(readImageHeader(png)!)).toBe(memory);
    expect(await decodedSize(png, 'image/png', {}, 1_000_000)).toBe(memory);
  });

  it('readImageInfo refuses what it cannot read, and images over the pixel limit, with ImageDecodeError', async () => {
    await expect(readImageInfo(Buffer.from('not an image'), false)).rejects.toThrow(ImageDecodeError);
    const png = await sharp(Buffer.alloc(20 * 20), { raw: { width: 20, height: 20, channels: 1 } }).png().toBuffer();
    await expect(readImageInfo(png, 100)).rejects.toThrow(/pixel limit/i);
  });
});
