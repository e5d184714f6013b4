// The JS image-header reader admission uses instead of sharp's metadata(): it must give sharp's
// answer for every image it answers for, and nothing (so sharp decides) for anything else.
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readImageHeader } from '../../../src/gateway/serve/image-header.js';
import { decodedSize } from '../../../src/gateway/serve/inputs.js';
import { decodeMemoryBytes } from '../../../src/runtime/node.js';

function pixels(w: number, h: number, c: 1 | 2 | 3 | 4, seed = 1) {
  const d = Buffer.alloc(w * h * c);
  for (let i = 0; i < d.length; i++) d[i] = (i * 2654435761 + seed * 97) >>> 24;
  if (c === 2 || c === 4) for (let i = c - 1; i < d.length; i += c) d[i] = i % 7 === 0 ? 0 : 255;
  return sharp(d, { raw: { width: w, height: h, channels: c } });
}

/** A PNG with a tRNS chunk (valid CRC) inserted right after IHDR. */
async function withTrns(png: Promise<Buffer>, payload: number[]): Promise<Buffer> {
  const b = await png;
  const body = Buffer.concat([Buffer.from('tRNS'), Buffer.from(payload)]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([b.subarray(0, 33), len, body, crc, b.subarray(33)]);
}

function cases(): [string, Promise<Buffer>][] {
  const out: [string, Promise<Buffer>][] = [];
  for (const c of [1, 2, 3, 4] as const) {
    out.push([`png ${c}ch`, pixels(37, 21, c).png().toBuffer()]);
    out.push([`png 16-bit ${c}ch`, pixels(37, 21, c).toColourspace(c <= 2 ? 'grey16' : 'rgb16').png().toBuffer()]);
    out.push([`png palette ${c}ch`, pixels(37, 21, c).png({ palette: true }).toBuffer()]);
    out.push([`jpeg ${c}ch`, pixels(41, 23, c).jpeg().toBuffer()]);
    out.push([`jpeg progressive ${c}ch`, pixels(41, 23, c).jpeg({ progressive: true }).toBuffer()]);
    out.push([`webp lossy ${c}ch`, pixels(43, 19, c).webp().toBuffer()]);
    out.push([`webp lossless ${c}ch`, pixels(43, 19, c).webp({ lossless: true }).toBuffer()]);
  }
  out.push(['png grey', pixels(37, 21, 3).toColourspace('b-w').png().toBuffer()]);
  out.push(['png grey+alpha', pixels(37, 21, 4).toColourspace('b-w').png().toBuffer()]);
  out.push(['png 1-bit palette', pixels(37, 21, 1).png({ palette: true, colours: 2 }).toBuffer()]);
  out.push(['png rgb + tRNS', withTrns(pixels(37, 21, 3).png().toBuffer(), [0, 1, 0, 2, 0, 3])]);
  out.push(['png grey + tRNS', withTrns(pixels(37, 21, 3).toColourspace('b-w').png().toBuffer(), [0, 7])]);
  out.push(['jpeg grey', pixels(41, 23, 3).toColourspace('b-w').jpeg().toBuffer()]);
  out.push(['jpeg cmyk', pixels(41, 23, 3).toColourspace('cmyk').jpeg().toBuffer()]);
  out.push(['jpeg with EXIF orientation', pixels(41, 23, 3).withMetadata({ orientation: 6 }).jpeg().toBuffer()]);
  out.push(['jpeg progressive, orientation 8', pixels(41, 23, 3).withMetadata({ orientation: 8 }).jpeg({ progressive: true }).toBuffer()]);
  out.push(['jpeg orientation 2 (mirror)', pixels(41, 23, 3).withMetadata({ orientation: 2 }).jpeg().toBuffer()]);
  out.push(['png interlaced', pixels(37, 21, 3).png({ progressive: true }).toBuffer()]);
  out.push(['png interlaced 16-bit', pixels(37, 21, 4).toColourspace('rgb16').png({ progressive: true }).toBuffer()]);
  out.push(['png with EXIF orientation', pixels(37, 21, 3).withMetadata({ orientation: 6 }).png().toBuffer()]);
  out.push(['webp 3000 wide', pixels(3000, 17, 3).webp().toBuffer()]);
  out.push(['png 5000 wide', pixels(5000, 3, 3).png().toBuffer()]);
  return out;
}

describe('readImageHeader', () => {
  it('gives exactly what sharp metadata() gives for PNG, JPEG and WebP of every channel layout', async () => {
    for (const [name, made] of cases()) {
      const buf = await made;
      const m = await sharp(buf).metadata();
      const want = {
        format: m.format, width: m.width, height: m.height, channels: m.channels, bytesPerSample: m.depth === 'ushort' ? 2 : 1,
        progressive: m.isProgressive, orientation: m.orientation ?? 1,
      };
      expect({ name, header: readImageHeader(buf) }).toEqual({ name, header: want });
    }
  });

  it('answers nothing rather than guessing: truncated, mutated and foreign bytes never throw, and a prefix never gives another answer', async () => {
    const bufs = await Promise.all(cases().map(([, p]) => p));
    bufs.push(await sharp({ create: { width: 9, height: 9, channels: 3, background: '#123' } }).gif().toBuffer());
    bufs.push(await sharp({ create: { width: 9, height: 9, channels: 3, background: '#123' } }).tiff().toBuffer());
    bufs.push(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'));
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (const full of bufs) {
      const whole = readImageHeader(full);
      for (let n = 0; n <= Math.min(full.length, 200); n++) {
        const h = readImageHeader(full.subarray(0, n));
        if (h !== undefined) expect(h).toEqual(whole);
      }
      for (let k = 0; k < 200; k++) {
        const m = Buffer.from(full.subarray(0, 256));
        m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
        expect(() => readImageHeader(m)).not.toThrow();
      }
    }
    for (let k = 0; k < 500; k++) expect(() => readImageHeader(Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))))).not.toThrow();
    expect(readImageHeader(bufs.at(-3)!)).toBeUndefined(); // GIF: sharp decides (and serve refuses it)
    // WebP with EXIF (its orientation usually follows the image data): sharp decides.
    expect(readImageHeader(await pixels(43, 19, 3).withMetadata({ orientation: 6 }).webp().toBuffer())).toBeUndefined();
  });

  it('decodedSize takes the JS answer, and still falls back to sharp for what it does not read (a JPEG declared as PNG is named)', async () => {
    const png = await pixels(300, 200, 4).png().toBuffer();
    expect(await decodedSize(png, 'image/png', {}, 1e6)).toBe(Math.ceil(300 * 200 * 4 * 1.3));
    await expect(decodedSize(png, 'image/png', {}, 1000)).rejects.toMatchObject({ status: 400, code: 'image_too_large' });
    const jpeg = await pixels(30, 20, 3).jpeg().toBuffer();
    await expect(decodedSize(jpeg, 'image/png', {}, 1e6)).rejects.toMatchObject({ status: 415, message: expect.stringMatching(/declared as image\/png but is jpeg/) });
  });
});

describe('decode reservation (what the decode budget holds per image)', () => {
  // Per pixel, for output channels c (8-bit out) and bytes per sample b as decoded:
  //   c + 0.3·c·b (line buffers) + c·b per whole-image copy (progressive/interlaced, orientation 3-8)
  //   WebP: c + 0.3·c + 8 (libwebp's frame and libvips's copy); orientation adds nothing
  // measured by bench/serve-load.ts attack (decode-cost) against real peak RSS.
  const W = 100;
  const H = 60;
  const cases: [string, () => Promise<Buffer>, string, number][] = [
    ['baseline JPEG', () => pixels(W, H, 3).jpeg().toBuffer(), 'image/jpeg', 3 * 1.3],
    ['JPEG orientation 2 (a mirror: no copy)', () => pixels(W, H, 3).withMetadata({ orientation: 2 }).jpeg().toBuffer(), 'image/jpeg', 3 * 1.3],
    ['JPEG orientation 6', () => pixels(W, H, 3).withMetadata({ orientation: 6 }).jpeg().toBuffer(), 'image/jpeg', 3 * 2.3],
    ['progressive JPEG', () => pixels(W, H, 3).jpeg({ progressive: true }).toBuffer(), 'image/jpeg', 3 * 2.3],
    ['progressive JPEG, orientation 6', () => pixels(W, H, 3).withMetadata({ orientation: 6 }).jpeg({ progressive: true }).toBuffer(), 'image/jpeg', 3 * 3.3],
    ['PNG RGBA', () => pixels(W, H, 4).png().toBuffer(), 'image/png', 4 * 1.3],
    ['interlaced PNG RGB', () => pixels(W, H, 3).png({ progressive: true }).toBuffer(), 'image/png', 3 * 2.3],
    ['16-bit PNG RGB', () => pixels(W, H, 3).toColourspace('rgb16').png().toBuffer(), 'image/png', 3 + 0.3 * 6],
    ['interlaced 16-bit PNG RGB', () => pixels(W, H, 3).toColourspace('rgb16').png({ progressive: true }).toBuffer(), 'image/png', 3 + 0.3 * 6 + 6],
    ['PNG orientation 6 (eXIf)', () => pixels(W, H, 3).withMetadata({ orientation: 6 }).png().toBuffer(), 'image/png', 3 * 2.3],
    ['lossy WebP RGB', () => pixels(W, H, 3).webp().toBuffer(), 'image/webp', 3 * 1.3 + 8],
    ['lossless WebP RGBA', () => pixels(W, H, 4).webp({ lossless: true }).toBuffer(), 'image/webp', 4 * 1.3 + 8],
    ['WebP with EXIF orientation 6 (read by sharp)', () => pixels(W, H, 3).withMetadata({ orientation: 6 }).webp().toBuffer(), 'image/webp', 3 * 1.3 + 8],
  ];
  for (const [name, make, type, bytesPerPixel] of cases) {
    it(`${name}: ${bytesPerPixel.toFixed(1)} bytes per pixel`, async () => {
      const body = await make();
      const want = Math.ceil(W * H * bytesPerPixel - 1e-6);
      expect(Math.abs((await decodedSize(body, type, {}, 1e6)) - want)).toBeLessThanOrEqual(1);
      const m = await sharp(body).metadata();
      expect(decodeMemoryBytes({ format: m.format, width: m.width, height: m.height, channels: m.channels!, bytesPerSample: m.depth === 'ushort' ? 2 : 1, progressive: m.isProgressive, orientation: m.orientation })).toBe(await decodedSize(body, type, {}, 1e6));
    });
  }
});
