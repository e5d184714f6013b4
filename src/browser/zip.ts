// A minimal .zip writer (stored entries, no compression: ONNX float weights barely compress, and
// the page then needs no deflate code). Enough for `unzip`, Python's zipfile and every OS.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Files (path inside the archive → bytes) as one .zip archive. Sizes must stay below 4 GiB (no zip64). */
export function zipFiles(files: Record<string, Uint8Array>): Uint8Array {
  const enc = new TextEncoder();
  const entries = Object.entries(files).map(([name, data]) => ({ name: enc.encode(name), data, crc: crc32(data) }));
  const localSize = entries.reduce((s, e) => s + 30 + e.name.length + e.data.length, 0);
  const centralSize = entries.reduce((s, e) => s + 46 + e.name.length, 0);
  if (localSize + centralSize + 22 > 0xffffffff) throw new RangeError('zip archives over 4 GiB are not supported');
  const out = new Uint8Array(localSize + centralSize + 22);
  const v = new DataView(out.buffer);
  let p = 0;
  const offsets: number[] = [];
  // DOS date 1980-01-01 00:00: fixed, so the same files give the same archive.
  const TIME = 0;
  const DATE = (0 << 9) | (1 << 5) | 1;
  for (const e of entries) {
    offsets.push(p);
    v.setUint32(p, 0x04034b50, true); v.setUint16(p + 4, 20, true); v.setUint16(p + 6, 0x0800, true); v.setUint16(p + 8, 0, true);
    v.setUint16(p + 10, TIME, true); v.setUint16(p + 12, DATE, true); v.setUint32(p + 14, e.crc, true);
    v.setUint32(p + 18, e.data.length, true); v.setUint32(p + 22, e.data.length, true);
    v.setUint16(p + 26, e.name.length, true); v.setUint16(p + 28, 0, true);
    out.set(e.name, p + 30);
    out.set(e.data, p + 30 + e.name.length);
    p += 30 + e.name.length + e.data.length;
  }
  const central = p;
  entries.forEach((e, i) => {
    v.setUint32(p, 0x02014b50, true); v.setUint16(p + 4, 20, true); v.setUint16(p + 6, 20, true); v.setUint16(p + 8, 0x0800, true);
    v.setUint16(p + 10, 0, true); v.setUint16(p + 12, TIME, true); v.setUint16(p + 14, DATE, true); v.setUint32(p + 16, e.crc, true);
    v.setUint32(p + 20, e.data.length, true); v.setUint32(p + 24, e.data.length, true); v.setUint16(p + 28, e.name.length, true);
    v.setUint16(p + 30, 0, true); v.setUint16(p + 32, 0, true); v.setUint16(p + 34, 0, true); v.setUint16(p + 36, 0, true);
    v.setUint32(p + 38, 0, true); v.setUint32(p + 42, offsets[i]!, true);
    out.set(e.name, p + 46);
    p += 46 + e.name.length;
  });
  v.setUint32(p, 0x06054b50, true); v.setUint16(p + 4, 0, true); v.setUint16(p + 6, 0, true);
  v.setUint16(p + 8, entries.length, true); v.setUint16(p + 10, entries.length, true);
  v.setUint32(p + 12, p - central, true); v.setUint32(p + 16, central, true); v.setUint16(p + 20, 0, true);
  return out;
}
