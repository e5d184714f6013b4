// The request/reply helper under the session worker and the decode workers, on a small worker of
// its own: replies matched by id, transfers, reported errors, and a dying worker.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerChannel, type WorkerReply } from '../../../src/workers/request-reply.js';

// Answers in reverse order of a `delay` field; `op: 'fail'` reports an error; `op: 'exit'` dies.
const SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
parentPort.postMessage({ hello: true }); // a handshake without an id
parentPort.on('message', (m) => {
  if (m.op === 'exit') process.exit(3);
  setTimeout(() => {
    if (m.op === 'fail') parentPort.postMessage({ id: m.id, error: { name: 'RangeError', message: 'bad ' + m.x } });
    else parentPort.postMessage({ id: m.id, x: m.x, bytes: m.buf ? m.buf.byteLength : 0 });
  }, m.delay || 0);
});
`;

interface Echo extends WorkerReply {
  x?: number;
  bytes?: number;
}

const channels: WorkerChannel<Echo>[] = [];
function open(onDeath?: (e: Error) => void): WorkerChannel<Echo> {
  const c = new WorkerChannel<Echo>(new Worker(SOURCE, { eval: true }), { what: 'the test worker', onDeath });
  channels.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.close(new Error('test over'))));
});

describe('WorkerChannel', () => {
  it('matches each reply to its request by id, whatever order they come back in', async () => {
    const c = open();
    const slow = c.request({ x: 1, delay: 60 });
    const fast = c.request({ x: 2, delay: 0 });
    expect(c.waiting).toBe(2);
    expect((await fast).x).toBe(2);
    expect((await slow).x).toBe(1);
    expect(c.waiting).toBe(0);
  });

  it('moves buffers in the transfer list, copies the rest', async () => {
    const c = open();
    const moved = new Float32Array(16);
    const copied = new Float32Array(8);
    const [a, b] = await Promise.all([c.request({ x: 1, buf: moved }, [moved.buffer]), c.request({ x: 2, buf: copied })]);
    expect([a.bytes, b.bytes]).toEqual([64, 32]);
    expect(moved.byteLength).toBe(0); // detached here: it now belongs to the worker
    expect(copied.byteLength).toBe(32);
  });

  it('rejects with the reported error under its name; a message that cannot be cloned is a TypeError', async () => {
    const c = open();
    const e = (await c.request({ op: 'fail', x: 7 }).then(() => new Error('resolved'), (x: unknown) => x)) as Error;
    expect([e.name, e.message]).toEqual(['RangeError', 'bad 7']);
    await expect(c.request({ x: 1, f: () => 1 })).rejects.toThrow(/cannot pass to the test worker/);
    expect((await c.request({ x: 3 })).x).toBe(3); // still working
  });

  it('a worker that dies fails every waiting request, and every later one; onDeath once', async () => {
    const deaths: Error[] = [];
    const c = open((e) => deaths.push(e));
    const waiting = [c.request({ x: 1, delay: 10_000 }), c.request({ x: 2, delay: 10_000 })].map((p) => expect(p).rejects.toThrow(/the test worker exited \(code 3\)/));
    void c.request({ op: 'exit' }).catch(() => undefined);
    await Promise.all(waiting);
    await expect(c.request({ x: 3 })).rejects.toThrow(/exited/);
    expect(deaths).toHaveLength(1);
    expect(c.failure?.message).toMatch(/exited/);
  });

  it('close() rejects what is waiting with its reason, and does not report a death', async () => {
    const deaths: Error[] = [];
    const c = open((e) => deaths.push(e));
    const waiting = expect(c.request({ x: 1, delay: 10_000 })).rejects.toThrow('released');
    await c.close(new Error('released'));
    await waiting;
    await expect(c.request({ x: 2 })).rejects.toThrow('released');
    expect(deaths).toEqual([]);
  });
});
