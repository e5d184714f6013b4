import { describe, expect, it } from 'vitest';
import { EventTracker, type AnomalyEvent, type EventTrackerOptions, type ScoredFrame } from '../../../src/gateway/watch/events.js';

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
const THR = 1;

/** One frame per 200 ms; `s` is the score (over when > 1). */
function frame(index: number, s: number, normalized = s / 2): ScoredFrame {
  return { index, time: T0 + index * 200, score: s, normalized, isAnomaly: s > THR, threshold: THR };
}

function tracker(o: Partial<EventTrackerOptions> = {}): EventTracker {
  let n = 0;
  return new EventTracker({ camera: 'cam', startFrames: 3, endFrames: 2, updateFrames: 100, newId: () => `ev${++n}`, ...o });
}

/** Runs scores from frame 0; returns [frame index, message] for every message. */
function run(t: EventTracker, scores: number[], from = 0): [number, AnomalyEvent, boolean][] {
  const out: [number, AnomalyEvent, boolean][] = [];
  scores.forEach((s, i) => {
    const r = t.observe(frame(from + i, s));
    if (r) out.push([from + i, r.event, r.snapshot]);
  });
  return out;
}

const iso = (i: number) => new Date(T0 + i * 200).toISOString();

describe('EventTracker', () => {
  it('starts at exactly the N-th consecutive frame over, dated from the first of them', () => {
    const msgs = run(tracker(), [0, 2, 2, 3]);
    expect(msgs).toHaveLength(1);
    const [at, e, snap] = msgs[0]!;
    expect(at).toBe(3);
    expect(snap).toBe(true);
    expect(e).toEqual({
      type: 'start', id: 'ev1', seq: 0, camera: 'cam',
      startTime: iso(1), startFrame: 1, endTime: null, endFrame: null, time: iso(3), frame: 3,
      peakScore: 3, peakNormalized: 1.5, peakTime: iso(3), peakFrame: 3, peakBox: null,
      framesOver: 3, threshold: THR, snapshot: null,
    });
  });

  it('N-1 frames over then one under starts nothing; the count restarts', () => {
    expect(run(tracker(), [2, 2, 0, 2, 2, 0, 2, 2])).toEqual([]);
    const t = tracker();
    const msgs = run(t, [2, 2, 0, 2, 2, 2]);
    expect(msgs.map(([i, e]) => [i, e.type, e.startFrame])).toEqual([[5, 'start', 3]]);
  });

  it('a score exactly at the threshold is not over (isAnomaly is score > threshold)', () => {
    expect(run(tracker(), [1, 1, 1, 1])).toEqual([]);
  });

  it('startFrames 1 starts on the first frame over; endFrames 1 ends on the first under', () => {
    const msgs = run(tracker({ startFrames: 1, endFrames: 1 }), [0, 5, 0, 0]);
    expect(msgs.map(([i, e]) => [i, e.type, e.startFrame, e.endFrame, e.reason])).toEqual([
      [1, 'start', 1, null, undefined],
      [2, 'end', 1, 1, 'recovered'],
    ]);
  });

  it('ends at the M-th consecutive frame under, dated at the last frame over', () => {
    const msgs = run(tracker(), [2, 2, 2, 2, 0, 0, 0]);
    expect(msgs.map(([i, e]) => [i, e.type])).toEqual([[2, 'start'], [5, 'end']]);
    const end = msgs[1]![1];
    expect(end).toMatchObject({ id: 'ev1', seq: 1, startFrame: 0, endFrame: 3, endTime: iso(3), frame: 5, time: iso(5), framesOver: 4, reason: 'recovered' });
  });

  it('flapping inside an event (fewer than M under in a row) keeps one event open', () => {
    const t = tracker({ endFrames: 3 });
    const msgs = run(t, [2, 2, 2, 0, 0, 2, 0, 2, 0, 0, 2, 0, 0, 0]);
    expect(msgs.map(([i, e]) => [i, e.type])).toEqual([[2, 'start'], [13, 'end']]);
    expect(msgs[1]![1]).toMatchObject({ startFrame: 0, endFrame: 10, framesOver: 6 });
    expect(t.openEventId).toBeUndefined();
  });

  it('flapping around the start (over, under, over…) never starts with N ≥ 2', () => {
    expect(run(tracker({ startFrames: 2 }), [2, 0, 2, 0, 2, 0, 2, 0])).toEqual([]);
  });

  it('sends an update on each new peak, with a snapshot request, and the peak fields follow', () => {
    const msgs = run(tracker(), [2, 3, 2, 2, 4, 3, 5, 0, 0]);
    expect(msgs.map(([i, e, s]) => [i, e.type, e.seq, e.peakScore, e.peakFrame, s])).toEqual([
      [2, 'start', 0, 3, 1, true],
      [4, 'update', 1, 4, 4, true],
      [6, 'update', 2, 5, 6, true],
      [8, 'end', 3, 5, 6, false],
    ]);
  });

  it('a peak equal to the old one is not a new peak', () => {
    expect(run(tracker(), [3, 2, 2, 3, 3]).map(([, e]) => e.type)).toEqual(['start']);
  });

  it('sends a heartbeat update every K frames since the last message, over or under', () => {
    const t = tracker({ updateFrames: 3, endFrames: 10 });
    const msgs = run(t, [2, 2, 2, 2, 2, 2, 0, 0, 0, 2]);
    expect(msgs.map(([i, e, s]) => [i, e.type, s])).toEqual([
      [2, 'start', true],
      [5, 'update', false],
      [8, 'update', false],
    ]);
    expect(msgs[2]![1].framesOver).toBe(6);
  });

  it('the heartbeat counts frame indices, so dropped frames (gaps) count as time passing', () => {
    const t = tracker({ updateFrames: 10 });
    expect(t.observe(frame(0, 2))).toBeNull();
    expect(t.observe(frame(1, 2))).toBeNull();
    expect(t.observe(frame(2, 2))?.event.type).toBe('start');
    expect(t.observe(frame(12, 2))?.event.type).toBe('update');
  });

  it('carries the snapshot path set for the open event in later messages', () => {
    const t = tracker();
    const [[, start]] = run(t, [2, 2, 2]) as [[number, AnomalyEvent, boolean]];
    expect(start.snapshot).toBeNull();
    t.setSnapshot('other-id', '/x.jpg');
    t.setSnapshot(start.id, '/snap/1.jpg');
    const msgs = run(t, [5, 0, 0], 3);
    expect(msgs.map(([, e]) => [e.type, e.snapshot])).toEqual([['update', '/snap/1.jpg'], ['end', '/snap/1.jpg']]);
  });

  it('offline mid-event ends it with reason offline, and the next event starts afresh', () => {
    const t = tracker();
    run(t, [2, 2, 2, 2, 0]);
    const end = t.close('offline', T0 + 99_000);
    expect(end).toMatchObject({ type: 'end', id: 'ev1', reason: 'offline', endFrame: 3, endTime: iso(3), time: new Date(T0 + 99_000).toISOString(), framesOver: 4 });
    expect(t.close('offline', T0 + 100_000)).toBeNull();
    // Indices may restart after a reconnect; pending over-frames from before were forgotten.
    const msgs = run(t, [2, 2, 2]);
    expect(msgs.map(([i, e]) => [i, e.type, e.id, e.startFrame])).toEqual([[2, 'start', 'ev2', 0]]);
  });

  it('offline before a start forgets the frames counted towards it', () => {
    const t = tracker();
    run(t, [2, 2]);
    expect(t.close('offline', T0)).toBeNull();
    expect(run(t, [2], 10)).toEqual([]);
    expect(run(t, [2, 2], 11).map(([i, e]) => [i, e.type, e.startFrame])).toEqual([[12, 'start', 10]]);
  });

  it('shutdown ends the open event with reason shutdown', () => {
    const t = tracker();
    run(t, [2, 2, 2]);
    expect(t.close('shutdown', T0 + 5000)).toMatchObject({ type: 'end', reason: 'shutdown', seq: 1 });
  });

  it('minScore: over the threshold but under minScore does not count', () => {
    const t = tracker({ minScore: 0.9 });
    // normalised = score/2: 1.5 → 0.75 (under minScore), 2 → 1.
    expect(run(t, [1.5, 1.5, 1.5, 1.5])).toEqual([]);
    expect(run(t, [2, 2, 1.5, 2, 2, 2], 4).map(([i, e]) => [i, e.type, e.startFrame])).toEqual([[9, 'start', 7]]);
  });

  it('uses the threshold of the frame that started the event', () => {
    const t = tracker({ startFrames: 1 });
    t.observe({ ...frame(0, 2), threshold: 0.5 });
    expect(t.observe({ ...frame(1, 3), threshold: 0.7 })?.event.threshold).toBe(0.5);
  });

  it('a second event after an end gets a new id and starts at seq 0', () => {
    const msgs = run(tracker({ startFrames: 1, endFrames: 1 }), [2, 0, 2, 0]);
    expect(msgs.map(([, e]) => [e.id, e.type, e.seq])).toEqual([['ev1', 'start', 0], ['ev1', 'end', 1], ['ev2', 'start', 0], ['ev2', 'end', 1]]);
  });

  it('refuses frames out of order and bad options', () => {
    const t = tracker();
    t.observe(frame(5, 0));
    expect(() => t.observe(frame(5, 0))).toThrow(RangeError);
    expect(() => t.observe(frame(4, 0))).toThrow(RangeError);
    expect(() => t.observe({ ...frame(6, 0), time: NaN })).toThrow(TypeError);
    expect(() => new EventTracker({ camera: '' })).toThrow(TypeError);
    expect(() => new EventTracker({ camera: 'c', startFrames: 0 })).toThrow(RangeError);
    expect(() => new EventTracker({ camera: 'c', endFrames: 10001 })).toThrow(RangeError);
    expect(() => new EventTracker({ camera: 'c', updateFrames: 1.5 })).toThrow(RangeError);
    expect(() => new EventTracker({ camera: 'c', minScore: 2 })).toThrow(RangeError);
  });

  it('defaults: N 3, M 5, K 25, random UUID ids', () => {
    const t = new EventTracker({ camera: 'c' });
    expect([t.startFrames, t.endFrames, t.updateFrames]).toEqual([3, 5, 25]);
    const msgs = run(t, [2, 2, 2]);
    expect(msgs[0]![1].id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
