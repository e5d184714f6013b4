// Admission without a socket: what each request holds, what it gives back, and when it is refused.
import { describe, expect, it } from 'vitest';
import { httpError } from '../../helpers/http-error.js';
import { Admission } from '../../../src/gateway/serve/admission.js';

describe('Admission', () => {
  it('refuses a bad maxQueue with RangeError', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new Admission(bad)).toThrow(RangeError);
  });

  it('admits up to maxQueue images over all requests, then 503 queue_full with Retry-After', () => {
    const a = new Admission(3);
    const r1 = a.openRequest();
    const r2 = a.openRequest();
    r1.admit(2);
    r2.admit(1);
    expect(a.admitted).toBe(3);
    const e = httpError(() => a.openRequest().admit(1));
    expect([e.status, e.code, e.headers['retry-after']]).toEqual([503, 'queue_full', '1']);
    expect(a.admitted).toBe(3); // a refusal takes nothing
    r1.release();
    expect(a.admitted).toBe(1);
    a.openRequest().admit(2);
    expect(a.admitted).toBe(3);
  });

  it('counts a body on its way, and admitted images until they reach the batcher, as upstream', () => {
    let drops = 0;
    const a = new Admission(8, () => drops++);
    const t = a.openRequest();
    t.arriving(true);
    t.arriving(true); // repeated: counted once
    expect(a.upstream).toBe(1);
    t.arriving(false);
    expect([a.upstream, drops]).toEqual([0, 1]);
    t.admit(2);
    expect(a.upstream).toBe(2);
    t.handedOn();
    expect([a.upstream, drops]).toEqual([1, 1]); // handed on: the batcher gets the image itself, no poke
    t.handedOn();
    t.handedOn(); // more than admitted: ignored
    expect(a.upstream).toBe(0);
  });

  it('release gives back everything a request held, whatever it reached, once', () => {
    let drops = 0;
    const a = new Admission(8, () => drops++);
    const arriving = a.openRequest();
    arriving.arriving(true);
    const halfway = a.openRequest();
    halfway.admit(3);
    halfway.handedOn();
    expect([a.open, a.admitted, a.upstream]).toEqual([2, 3, 3]);
    arriving.release();
    expect([a.open, a.admitted, a.upstream, drops]).toEqual([1, 3, 2, 1]);
    halfway.release();
    expect([a.open, a.admitted, a.upstream, drops]).toEqual([0, 0, 0, 2]);
    halfway.release();
    expect([a.open, a.admitted, a.upstream, drops]).toEqual([0, 0, 0, 2]);
  });

  it('a released ticket changes nothing any more (late decodes, late bodies)', () => {
    const a = new Admission(8);
    const t = a.openRequest();
    t.admit(1);
    t.release();
    t.arriving(true);
    t.handedOn();
    expect([a.admitted, a.upstream]).toEqual([0, 0]);
    expect(httpError(() => t.admit(1)).status).toBe(503);
    expect(a.admitted).toBe(0);
  });

  it('after drain() refuses newcomers, but serves requests already arriving or admitted, and may let them grow', () => {
    const a = new Admission(8);
    const early = a.openRequest();
    early.arriving(true); // its body began before shutdown
    const admitted = a.openRequest();
    admitted.admit(1);
    a.drain();
    expect(a.draining).toBe(true);
    const late = a.openRequest();
    late.arriving(true);
    const e = httpError(() => late.admit(1));
    expect([e.status, e.code]).toEqual([503, 'shutting_down']);
    early.arriving(false);
    early.admit(2); // a batch parsed after shutdown began
    admitted.admit(1);
    expect(a.admitted).toBe(4);
  });

  it('idle() resolves once every open request is released', async () => {
    const a = new Admission(8);
    await a.idle(); // nothing open
    const t1 = a.openRequest();
    const t2 = a.openRequest();
    let idle = false;
    const waiting = a.idle().then(() => (idle = true));
    t1.release();
    await Promise.resolve();
    expect(idle).toBe(false);
    t2.release();
    await waiting;
    expect(idle).toBe(true);
  });
});
