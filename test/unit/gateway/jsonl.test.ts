import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EventTracker, type AnomalyEvent } from '../../../src/gateway/watch/events.js';
import { JsonlSink } from '../../../src/gateway/watch/sinks/jsonl.js';

function events(): AnomalyEvent[] {
  const t = new EventTracker({ camera: 'cam', startFrames: 1, endFrames: 1, newId: () => 'ev1' });
  const out: AnomalyEvent[] = [];
  [2, 0].forEach((s, i) => {
    const r = t.observe({ index: i, time: Date.UTC(2026, 0, 1) + i, score: s, normalized: s / 2, isAnomaly: s > 1, threshold: 1 });
    if (r) out.push(r.event);
  });
  return out;
}

describe('JsonlSink', () => {
  it('appends one JSON line per message to a file, readable before close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-jsonl-'));
    try {
      const file = join(dir, 'events.jsonl');
      await writeFile(file, '{"old":true}\n');
      const sink = new JsonlSink({ target: file, log: () => undefined });
      const [start, end] = events();
      sink.publish(start!);
      sink.state('cam', 'stalled', 'no frame for 10 s');
      sink.publish(end!);
      const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toEqual({ old: true });
      expect(lines[1]).toEqual(start);
      expect(lines[2]).toMatchObject({ type: 'state', camera: 'cam', state: 'stalled', reason: 'no frame for 10 s' });
      expect(lines[3]).toMatchObject({ type: 'end', id: 'ev1', reason: 'recovered' });
      await sink.close();
      sink.publish(start!);
      expect(sink.stats()).toEqual({ published: 4, delivered: 3, dropped: { closed: 1 }, pending: 0 });
      expect((await readFile(file, 'utf8')).trimEnd().split('\n')).toHaveLength(4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes to a stream, and refuses a bad state or target', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const sink = new JsonlSink({ target: out });
    sink.publish(events()[0]!);
    expect(() => sink.state('cam', 'sleeping' as never)).toThrow(TypeError);
    await sink.close();
    expect(JSON.parse(text)).toMatchObject({ type: 'start', id: 'ev1' });
    expect(() => new JsonlSink({ target: '' })).toThrow(TypeError);
    expect(() => new JsonlSink({ target: 42 as never })).toThrow(TypeError);
  });
});

describe('createSinks', () => {
  it('builds the sinks a parsed config names, in the order jsonl, webhook', async () => {
    const { parseWatchConfig } = await import('../../../src/gateway/watch/config.js');
    const { createSinks } = await import('../../../src/gateway/watch/sinks/create.js');
    const c = parseWatchConfig('cameras: [{name: a, source: rtsp://h/s}]\nmodel: {folder: /m}\nsinks:\n  jsonl: stdout\n  webhook: {url: "http://127.0.0.1:9/x", retries: 0}\n');
    const sinks = createSinks(c.sinks, () => undefined);
    expect(sinks.map((s) => s.kind)).toEqual(['jsonl', 'webhook']);
    for (const s of sinks) await s.close();
  });
});
