// Width, height and channels of a PNG, JPEG or WebP read from its first bytes, in JavaScript.
// Admission needs them for every upload before anything is decoded; sharp's metadata() gives the
// same answer but costs ~0.4 ms of server-thread time per call (most of it marshalling sharp's
// options object), which under a flood is time every other connection waits for. Anything this
// reader is not sure of returns undefined and sharp decides, so it only ever answers for the
// common, well-formed cases, and it never reads past the buffer.

export interface ImageHeader {
  format: 'png' | 'jpeg' | 'webp';
  width: number;
  height: number;
  /** What sharp's metadata() reports: bands the decoder produces. */
  channels: number;
  /** 1 for 8-bit samples (and fewer bits), 2 for 16-bit PNG. */
  bytesPerSample: 1 | 2;
  /** A progressive JPEG or an interlaced PNG (sharp's isProgressive): decoded whole into memory first. */
  progressive: boolean;
  /** The EXIF orientation sharp applies, 1-8 (1 when the image has none). */
  orientation: number;
}

const u16be = (d: Uint8Array, i: number) => (d[i]! << 8) | d[i + 1]!;
const u32be = (d: Uint8Array, i: number) => d[i]! * 0x1000000 + ((d[i + 1]! << 16) | (d[i + 2]! << 8) | d[i + 3]!);
const u24le = (d: Uint8Array, i: number) => d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16);
const ascii = (d: Uint8Array, i: number, s: string) => {
  for (let k = 0; k < s.length; k++) if (d[i + k] !== s.charCodeAt(k)) return false;
  return true;
};

/**
 * The Orientation tag (0x0112) in IFD0 of a TIFF-structured EXIF block at d[start, end): 1 when
 * the block has none, undefined when the block cannot be read or the value is not 1-8.
 */
function exifOrientation(d: Uint8Array, start: number, end: number): number | undefined {
  if (end > d.length || start + 8 > end) return undefined;
  const le = ascii(d, start, 'II') ? true : ascii(d, start, 'MM') ? false : undefined;
  if (le === undefined) return undefined;
  const u16 = (i: number) => (le ? d[i]! | (d[i + 1]! << 8) : u16be(d, i));
  const u32 = (i: number) => (le ? (d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16)) + d[i + 3]! * 0x1000000 : u32be(d, i));
  if (u16(start + 2) !== 42) return undefined;
  const ifd = start + u32(start + 4);
  if (ifd + 2 > end) return undefined;
  const n = u16(ifd);
  if (ifd + 2 + n * 12 > end) return undefined;
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + k * 12;
    if (u16(e) !== 0x0112) continue;
    if (u16(e + 2) !== 3 || u32(e + 4) !== 1) return undefined; // one SHORT, or sharp decides
    const v = u16(e + 8);
    return v >= 1 && v <= 8 ? v : undefined;
  }
  return 1;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Colour type → channels (before a tRNS chunk adds alpha). */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };
/** Chunks scanned for tRNS before giving up (a real file has a handful before IDAT). */
const PNG_MAX_CHUNKS = 64;

function png(d: Uint8Array): ImageHeader | undefined {
  if (d.length < 33 || !PNG_SIGNATURE.every((b, i) => d[i] === b) || !ascii(d, 12, 'IHDR') || u32be(d, 8) !== 13) return undefined;
  const width = u32be(d, 16);
  const height = u32be(d, 20);
  const depth = d[24]!;
  const colour = d[25]!;
  const base = PNG_CHANNELS[colour];
  if (base === undefined || ![1, 2, 4, 8, 16].includes(depth)) return undefined;
  const interlace = d[28]!;
  if (interlace > 1) return undefined;
  // A tRNS chunk (before IDAT) gives grey, RGB and palette images an alpha band; an eXIf chunk
  // there an orientation (sharp ignores one after IDAT).
  let alpha = false;
  let orientation: number | undefined = 1;
  let exif = false;
  let at = 33;
  for (let n = 0; n < PNG_MAX_CHUNKS; n++) {
    if (at + 8 > d.length) return undefined;
    const len = u32be(d, at);
    if (ascii(d, at + 4, 'IDAT') || ascii(d, at + 4, 'IEND')) break;
    if (ascii(d, at + 4, 'tRNS')) alpha = true;
    if (ascii(d, at + 4, 'eXIf')) {
      if (exif) return undefined; // two: sharp decides which counts
      exif = true;
      orientation = exifOrientation(d, at + 8, at + 8 + len);
      if (orientation === undefined) return undefined;
    }
    at += 12 + len;
    if (n === PNG_MAX_CHUNKS - 1) return undefined;
  }
  const channels = alpha && (colour === 0 || colour === 2 || colour === 3) ? base + 1 : base;
  return { format: 'png', width, height, channels, bytesPerSample: depth === 16 ? 2 : 1, progressive: interlace === 1, orientation };
}

/** JPEG start-of-frame markers: baseline, extended, progressive, lossless (Huffman and arithmetic). */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
/** Of those, the progressive ones (Huffman, differential, arithmetic, differential arithmetic). */
const PROGRESSIVE_SOF = new Set([0xc2, 0xc6, 0xca, 0xce]);
/** Segments scanned for the frame header before giving up. */
const JPEG_MAX_SEGMENTS = 256;

function jpeg(d: Uint8Array): ImageHeader | undefined {
  if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) return undefined;
  let at = 2;
  let orientation: number | undefined = 1;
  let exif = false;
  for (let n = 0; n < JPEG_MAX_SEGMENTS; n++) {
    while (at < d.length && d[at] === 0xff && d[at + 1] === 0xff) at++; // fill bytes
    if (at + 4 > d.length || d[at] !== 0xff) return undefined;
    const marker = d[at + 1]!;
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image, or scan data, before any frame header
    const len = u16be(d, at + 2);
    if (len < 2) return undefined;
    if (marker === 0xe1 && at + 10 <= d.length && ascii(d, at + 4, 'Exif\0\0')) {
      if (exif) return undefined; // two EXIF blocks: sharp decides which counts
      exif = true;
      orientation = exifOrientation(d, at + 10, at + 2 + len);
      if (orientation === undefined) return undefined;
    }
    if (SOF.has(marker)) {
      if (at + 10 > d.length) return undefined;
      const precision = d[at + 4]!;
      const height = u16be(d, at + 5);
      const width = u16be(d, at + 7);
      const components = d[at + 9]!;
      // Height 0 (set later by a DNL marker) and 12/16-bit precision: sharp decides.
      if (precision !== 8 || height === 0 || width === 0 || ![1, 3, 4].includes(components)) return undefined;
      return { format: 'jpeg', width, height, channels: components, bytesPerSample: 1, progressive: PROGRESSIVE_SOF.has(marker), orientation };
    }
    at += 2 + len;
  }
  return undefined;
}

function webp(d: Uint8Array): ImageHeader | undefined {
  if (d.length < 30 || !ascii(d, 0, 'RIFF') || !ascii(d, 8, 'WEBP')) return undefined;
  if (ascii(d, 12, 'VP8 ')) {
    // Lossy: a key frame's tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
    if (d[23] !== 0x9d || d[24] !== 0x01 || d[25] !== 0x2a || (d[20]! & 1) !== 0) return undefined;
    return { format: 'webp', width: (d[26]! | (d[27]! << 8)) & 0x3fff, height: (d[28]! | (d[29]! << 8)) & 0x3fff, channels: 3, bytesPerSample: 1, progressive: false, orientation: 1 };
  }
  if (ascii(d, 12, 'VP8L')) {
    if (d[20] !== 0x2f) return undefined;
    const bits = d[21]! | (d[22]! << 8) | (d[23]! << 16) | (d[24]! << 24);
    const width = (bits & 0x3fff) + 1;
    const height = ((bits >>> 14) & 0x3fff) + 1;
    const alpha = ((bits >>> 28) & 1) === 1;
    return { format: 'webp', width, height, channels: alpha ? 4 : 3, bytesPerSample: 1, progressive: false, orientation: 1 };
  }
  if (ascii(d, 12, 'VP8X')) {
    const flags = d[20]!;
    if (flags & 0x02) return undefined; // animated: sharp decides how many frames it would decode
    if (flags & 0x08) return undefined; // EXIF, usually after the image data: sharp reads its orientation
    return { format: 'webp', width: u24le(d, 24) + 1, height: u24le(d, 27) + 1, channels: flags & 0x10 ? 4 : 3, bytesPerSample: 1, progressive: false, orientation: 1 };
  }
  return undefined;
}

/** The header of a PNG, JPEG or WebP, or undefined when this reader cannot tell for sure. */
export function readImageHeader(data: Uint8Array): ImageHeader | undefined {
  const h = png(data) ?? jpeg(data) ?? webp(data);
  return h && h.width > 0 && h.height > 0 ? h : undefined;
}
