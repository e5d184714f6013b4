// The server's building blocks without a socket: media types, sizes, multipart parsing, the
// Prometheus text renderer and the micro-batcher.
import { describe, expect, it } from 'vitest';
import { httpError } from '../../helpers/http-error.js';
import { CancelledError, MicroBatcher } from '../../../src/gateway/serve/batcher.js';
import { parseMediaType, parseMultipart } from '../../../src/gateway/serve/body.js';
import { bytesFromText, parseRanged, SERVE_RANGES } from '../../../src/option-ranges.js';
import { batchBuckets, Counter, Gauge, Histogram, Registry } from '../../../src/gateway/serve/metrics.js';
import { serveSessionOptions } from '../../../src/gateway/serve/server.js';
import { ortSessionOptions } from '../../../src/runtime/core/ort-adapter.js';

function multipart(boundary: string, parts: { headers: string[]; data: Buffer }[], preamble = ''): Buffer {
  const chunks: Buffer[] = [Buffer.from(preamble)];
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}\r\n${p.headers.map((h) => `${h}\r\n`).join('')}\r\n`), p.data, Buffer.from('\r\n'));
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

describe('parseMediaType', () => {
  it('lower-cases the type and reads quoted and bare parameters', () => {
    expect(parseMediaType('Image/PNG')).toEqual({ type: 'image/png', params: {} });
    expect(parseMediaType('multipart/form-data; boundary=abc')).toEqual({ type: 'multipart/form-data', params: { boundary: 'abc' } });
    expect(parseMediaType('form-data; name="img"; filename="a;b \\"c\\".png"').params).toEqual({ name: 'img', filename: 'a;b "c".png' });
    expect(parseMediaType(undefined)).toEqual({ type: '', params: {} });
  });
});

describe('byte sizes (bytesFromText, parseRanged)', () => {
  it('reads units as powers of 1024 and rejects nonsense', () => {
    expect(bytesFromText('10mb')).toBe(10 * 1024 * 1024);
    expect(bytesFromText('512KB')).toBe(512 * 1024);
    expect(bytesFromText('1.5MiB')).toBe(1.5 * 1024 * 1024);
    expect(bytesFromText('2048')).toBe(2048);
    expect(bytesFromText('ten')).toBeNaN();
    expect(() => parseRanged('ten', SERVE_RANGES.maxBodyBytes)).toThrow(/--max-body must be a size from 1 B to 2 GiB/);
    expect(() => parseRanged('0', SERVE_RANGES.maxBodyBytes)).toThrow(/--max-body must be a size from 1 B to 2 GiB .*; got '0'/);
  });

  it('refuses sizes beyond the range and beyond 2^53 (999999999999999999999 was accepted)', () => {
    expect(bytesFromText('999999999999999999999')).toBeNaN();
    expect(() => parseRanged('999999999999999999999', SERVE_RANGES.maxBodyBytes)).toThrow(RangeError);
    expect(() => parseRanged('3gb', SERVE_RANGES.maxBodyBytes)).toThrow(/--max-body must be a size from 1 B to 2 GiB/);
    expect(parseRanged('2gb', SERVE_RANGES.maxBodyBytes)).toBe(2 * 1024 ** 3);
  });
});

describe('parseMultipart', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x0d, 0x0a, 0x2d, 0x2d]); // contains CRLF and "--"
  const raw = Buffer.from([1, 2, 3, 4, 5, 6]);

  it('splits parts with their names, types, headers and exact bytes (binary-safe)', () => {
    const body = multipart('XyZ', [
      { headers: ['Content-Disposition: form-data; name="a"; filename="a.png"', 'Content-Type: image/png'], data: png },
      { headers: ['Content-Disposition: form-data; name="b"', 'Content-Type: application/octet-stream', 'X-Width: 3', 'X-Height: 2', 'X-Channels: 1'], data: raw },
    ], 'preamble to ignore\r\n');
    const parts = parseMultipart(body, 'XyZ', 10);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toMatchObject({ name: 'a', filename: 'a.png', contentType: { type: 'image/png' } });
    expect(parts[0]!.data.equals(png)).toBe(true);
    expect(parts[1]).toMatchObject({ name: 'b', headers: { 'x-width': '3', 'x-height': '2', 'x-channels': '1' } });
    expect(parts[1]!.data.equals(raw)).toBe(true);
  });

  it('refuses malformed bodies with 400 bad_multipart and too many parts with 413', () => {
    const ok = multipart('b', [{ headers: ['Content-Type: image/png'], data: png }, { headers: ['Content-Type: image/png'], data: png }]);
    expect(httpError(() => parseMultipart(ok, undefined, 10))).toMatchObject({ status: 400, code: 'bad_multipart' });
    expect(httpError(() => parseMultipart(ok, 'other', 10))).toMatchObject({ status: 400, code: 'bad_multipart' });
    expect(httpError(() => parseMultipart(ok.subarray(0, ok.length - 8), 'b', 10))).toMatchObject({ status: 400, code: 'bad_multipart' });
    expect(httpError(() => parseMultipart(Buffer.from('--b\r\nno colon here\r\n\r\nx\r\n--b--'), 'b', 10))).toMatchObject({ code: 'bad_multipart' });
    expect(httpError(() => parseMultipart(ok, 'b', 1))).toMatchObject({ status: 413, code: 'too_many_parts' });
    expect(parseMultipart(ok, 'b', 2)).toHaveLength(2);
  });
});

describe('Prometheus text', () => {
  it('renders counters, gauges and cumulative histograms with escaped labels', () => {
    const r = new Registry();
    const c = r.add(new Counter('x_total', 'Things.'));
    c.inc({ route: '/a', status: '200' });
    c.inc({ route: '/a', status: '200' }, 2);
    c.inc({ route: 'q"\\\n', status: '500' });
    r.add(new Gauge('depth', 'Depth.', () => [{ value: 3 }]));
    const h = r.add(new Histogram('size', 'Sizes.', batchBuckets(8)));
    for (const v of [1, 3, 3, 8, 9]) h.observe(v);
    const text = r.render();
    expect(text.endsWith('\n')).toBe(true);
    expect(text).toContain('# TYPE x_total counter\nx_total{route="/a",status="200"} 3\nx_total{route="q\\"\\\\\\n",status="500"} 1');
    expect(text).toContain('# HELP depth Depth.\n# TYPE depth gauge\ndepth 3');
    expect(text).toContain(
      ['size_bucket{le="1"} 1', 'size_bucket{le="2"} 1', 'size_bucket{le="4"} 3', 'size_bucket{le="8"} 4', 'size_bucket{le="+Inf"} 5', 'size_sum 24', 'size_count 5'].join('\n'),
    );
    expect(batchBuckets(1)).toEqual([1]);
    expect(batchBuckets(12)).toEqual([1, 2, 4, 8, 12]);
  });
});

/** A fake scorer that records the batches it sees and can be held until released. */
function recorder() {
  const batches: number[][] = [];
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  return {
    batches,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release: () => open(),
    run: async (xs: number[]) => {
      batches.push(xs);
      await gate;
      if (xs.includes(-1)) throw new RangeError('bad item');
      return xs.map((x) => x * 10);
    },
  };
}

describe('MicroBatcher', () => {
  it('fills a batch up to maxBatch without waiting out the window', async () => {
    const rec = recorder();
    const b = new MicroBatcher({ run: rec.run, maxBatch: 4, maxWaitMs: 60_000 });
    const out = await Promise.all([1, 2, 3, 4].map((x) => b.submit(x)));
    expect(out).toEqual([10, 20, 30, 40]);
    expect(rec.batches).toEqual([[1, 2, 3, 4]]);
  });

  it('groups what arrives while a run is in flight into the next run', async () => {
    const rec = recorder();
    const sizes: number[] = [];
    const b = new MicroBatcher({ run: rec.run, maxBatch: 8, maxWaitMs: 0, onBatch: (n) => sizes.push(n) });
    rec.hold();
    const first = b.submit(1);
    await new Promise((r) => setImmediate(r));
    const rest = [2, 3, 4].map((x) => b.submit(x));
    expect(b.depth).toBe(3);
    rec.release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(rec.batches).toEqual([[1], [2, 3, 4]]);
    expect(sizes).toEqual([1, 3]);
  });

  it('waits out the window only while more items are on their way', async () => {
    const rec = recorder();
    let upstream = 1;
    const b = new MicroBatcher({ run: rec.run, maxBatch: 8, maxWaitMs: 600_000, upstream: () => upstream });
    const first = b.submit(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(rec.batches).toEqual([]); // one more is coming: wait for it
    upstream = 0;
    const second = b.submit(2); // the last one in: nobody left to wait for
    expect(await Promise.all([first, second])).toEqual([10, 20]);
    expect(rec.batches).toEqual([[1, 2]]);
    upstream = 1;
    const third = b.submit(3);
    upstream = 0; // e.g. the awaited upload failed: poke() re-checks
    b.poke();
    expect(await third).toBe(30);
  });

  it('removes a cancelled item from the queue; flush() runs the rest without waiting', async () => {
    const rec = recorder();
    const b = new MicroBatcher({ run: rec.run, maxBatch: 8, maxWaitMs: 60_000 });
    const ac = new AbortController();
    const a = b.submit(1, ac.signal);
    const c = b.submit(2);
    ac.abort();
    await expect(a).rejects.toBeInstanceOf(CancelledError);
    expect(b.depth).toBe(1);
    b.flush();
    expect(await c).toBe(20);
    expect(rec.batches).toEqual([[2]]);
    await b.idle();
  });

  it('retries a failed batch item by item when the error belongs to one input', async () => {
    const rec = recorder();
    const b = new MicroBatcher({ run: rec.run, maxBatch: 3, maxWaitMs: 60_000, isItemError: (e) => e instanceof RangeError });
    const res = await Promise.allSettled([1, -1, 3].map((x) => b.submit(x)));
    expect(res.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(rec.batches).toEqual([[1, -1, 3], [1], [-1], [3]]);
  });

  it('fails the whole batch on other errors', async () => {
    const b = new MicroBatcher<number, number>({ run: async () => { throw new Error('session gone'); }, maxBatch: 2, maxWaitMs: 0 });
    await expect(Promise.all([b.submit(1), b.submit(2)])).rejects.toThrow('session gone');
  });
});

describe('session options', () => {
  it('serve keeps ORT\'s thread pools from spinning unless told otherwise, and keeps the other options', () => {
    expect(serveSessionOptions()).toEqual({ extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } });
    const user = { intraOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '1' }, foo: 'x' }, other: { y: '2' } } };
    expect(serveSessionOptions(user)).toEqual({
      intraOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: '1' }, inter_op: { allow_spinning: '0' }, foo: 'x' }, other: { y: '2' } },
    });
  });
  it('a caller\'s config entries are added to the runtime\'s, not put in their place', () => {
    const o = ortSessionOptions('cpu', { intraOpNumThreads: 2, extra: { session: { intra_op: { allow_spinning: '0' } } } });
    expect(o.intraOpNumThreads).toBe(2);
    expect(o.executionProviders).toEqual(['cpu']);
    // disable_quant_qdq (the INT8 variant's speed) survives a caller's own entries.
    expect(o.extra).toEqual({ session: { disable_quant_qdq: '1', intra_op: { allow_spinning: '0' } } });
    expect(ortSessionOptions('cpu').extra).toEqual({ session: { disable_quant_qdq: '1' } });
  });
});
