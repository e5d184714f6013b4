import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GanomalyError } from '@ganomaly-edge/runtime';
import { loadWatchConfig, MAX_WATCH_CONFIG_BYTES, parseWatchConfig, watchConfigFromFlags, WatchConfigError, type ConfigProblem } from '../../../src/gateway/watch/config.js';

const GOOD = `# two cameras, every section
cameras:
  - name: line-1
    source: rtsp://10.0.0.5:554/stream1
    fps: 2.5
    roi: { x: 10, y: 20, w: 300, h: 200 }
  - name: folder_cam
    source: drops/incoming
    model: ../other-model
    threshold: 0.02
    loop: true
model:
  folder: models/fm0
  executionProviders: [cpu]
  precision: int8
events:
  startFrames: 4
  endFrames: 10
  updateFrames: 50
  minScore: 0.5
snapshots:
  dir: snaps
  maxCount: 100
  maxBytes: 10mb
  maxAgeSeconds: 3600
sinks:
  jsonl: stdout
  webhook:
    url: http://127.0.0.1:9000/hook
    timeoutMs: 2000
    retries: 3
    backoffMs: 100
    queueSize: 50
  mqtt:
    url: mqtt://127.0.0.1:1883
    prefix: plant/ganomaly
    clientId: gw1
    username: u
    password: ''
    qos: 2
http:
  port: 9090
  healthPort: 9091
  host: 0.0.0.0
ffmpeg:
  path: /usr/local/bin/ffmpeg
  stallSeconds: 5
`;

function problems(text: string): ConfigProblem[] {
  try {
    parseWatchConfig(text, 'gw.yaml', { baseDir: '/etc/gw' });
  } catch (e) {
    expect(e).toBeInstanceOf(WatchConfigError);
    expect(e).toBeInstanceOf(GanomalyError);
    expect((e as WatchConfigError).code).toBe('watch_config_invalid');
    return [...(e as WatchConfigError).problems];
  }
  throw new Error('expected a WatchConfigError');
}

const MIN = 'cameras:\n  - name: a\n    source: rtsp://h/s\nmodel:\n  folder: /m\n';

describe('watch config: good files', () => {
  it('reads every section, resolves relative paths against the base folder', () => {
    const c = parseWatchConfig(GOOD, 'gw.yaml', { baseDir: '/etc/gw' });
    expect(c.cameras).toEqual([
      { name: 'line-1', source: 'rtsp://10.0.0.5:554/stream1', fps: 2.5, loop: false, roi: { x: 10, y: 20, w: 300, h: 200 } },
      { name: 'folder_cam', source: '/etc/gw/drops/incoming', fps: 5, loop: true, model: '/etc/other-model', threshold: 0.02 },
    ]);
    expect(c.model).toEqual({ folder: '/etc/gw/models/fm0', executionProviders: ['cpu'], precision: 'int8' });
    expect(c.events).toEqual({ startFrames: 4, endFrames: 10, updateFrames: 50, minScore: 0.5 });
    expect(c.snapshots).toEqual({ dir: '/etc/gw/snaps', maxCount: 100, maxBytes: 10 * 1024 ** 2, maxAgeSeconds: 3600 });
    expect(c.sinks.jsonl).toBe('stdout');
    expect(c.sinks.webhook).toEqual({ url: 'http://127.0.0.1:9000/hook', timeoutMs: 2000, retries: 3, backoffMs: 100, queueSize: 50 });
    expect(c.sinks.mqtt).toEqual({ url: 'mqtt://127.0.0.1:1883', prefix: 'plant/ganomaly', clientId: 'gw1', username: 'u', password: '', qos: 2, queueSize: 1000, reconnectMs: 2000 });
    expect(c.http).toEqual({ port: 9090, healthPort: 9091, host: '0.0.0.0' });
    expect(c.ffmpeg).toEqual({ path: '/usr/local/bin/ffmpeg', stallSeconds: 5, reconnectMinMs: 1000, reconnectMaxMs: 30000 });
  });

  it('fills every default in a minimal file', () => {
    const c = parseWatchConfig(MIN);
    expect(c.cameras).toEqual([{ name: 'a', source: 'rtsp://h/s', fps: 5, loop: false }]);
    expect(c.model).toEqual({ folder: '/m', executionProviders: ['cuda', 'cpu'], precision: 'fp32' });
    expect(c.events).toEqual({ startFrames: 3, endFrames: 5, updateFrames: 25 });
    expect(c.snapshots).toBeUndefined();
    expect(c.sinks).toEqual({});
    expect(c.http).toEqual({ port: 8080, healthPort: 8081, host: '127.0.0.1' });
    expect(c.ffmpeg).toEqual({ path: 'ffmpeg', stallSeconds: 10, reconnectMinMs: 1000, reconnectMaxMs: 30000 });
    expect(c.sinks.mqtt).toBeUndefined();
  });

  it('turns the health port off with null or false, and accepts range edges', () => {
    expect(parseWatchConfig(`${MIN}http:\n  healthPort: null\n`).http.healthPort).toBeNull();
    expect(parseWatchConfig(`${MIN}http:\n  healthPort: false\n`).http.healthPort).toBeNull();
    const lo = parseWatchConfig(MIN.replace('source: rtsp://h/s', 'source: rtsp://h/s\n    fps: 0.1') + 'events:\n  startFrames: 1\n  endFrames: 1\n');
    expect(lo.cameras[0]!.fps).toBe(0.1);
    expect(lo.events.startFrames).toBe(1);
    const hi = parseWatchConfig(MIN.replace('source: rtsp://h/s', 'source: rtsp://h/s\n    fps: 60') + 'events:\n  startFrames: 1000\n  endFrames: 10000\n');
    expect(hi.cameras[0]!.fps).toBe(60);
    expect(hi.events).toMatchObject({ startFrames: 1000, endFrames: 10000 });
  });

  it('loadWatchConfig resolves paths against the file folder and names a missing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-config-'));
    try {
      await writeFile(join(dir, 'gw.yaml'), MIN.replace('folder: /m', 'folder: ./model'));
      expect((await loadWatchConfig(join(dir, 'gw.yaml'))).model.folder).toBe(join(dir, 'model'));
      const err = await loadWatchConfig(join(dir, 'nope.yaml')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WatchConfigError);
      expect((err as Error).message).toContain('no such file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loadWatchConfig reads the file bounded: a FIFO, /dev/zero or an oversize file is a WatchConfigError at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-config-'));
    try {
      execFileSync('mkfifo', [join(dir, 'fifo.yaml')]);
      await symlink('/dev/zero', join(dir, 'zero.yaml'));
      await writeFile(join(dir, 'big.yaml'), MIN);
      await truncate(join(dir, 'big.yaml'), MAX_WATCH_CONFIG_BYTES + 1);
      const cases = [['fifo.yaml', /the file is a FIFO, not a regular file/], ['zero.yaml', /the file is a device, not a regular file/], ['big.yaml', /more than the limit of 1048576/]] as const;
      for (const [name, why] of cases) {
        let timer: NodeJS.Timeout | undefined;
        const hang = new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), 5000)));
        const err = await Promise.race([loadWatchConfig(join(dir, name)).catch((e: unknown) => e), hang]);
        clearTimeout(timer);
        expect(err).toBeInstanceOf(WatchConfigError);
        expect((err as Error).message).toMatch(why);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('watch config: mistakes, each with its path and line', () => {
  it('lists every problem in one error, formatted `path (line L): what`', () => {
    const text = [
      'cameras:', //                 1
      '  - name: "bad name"', //     2
      '    source: rtsp://h/s', //   3
      '    fps: 0', //               4
      '    rio: {x: 1}', //          5
      '  - name: b', //              6
      '    fps: fast', //            7
      'model:', //                   8
      '  precision: fp64', //        9
      'events:', //                  10
      '  startFrames: 2.5', //       11
      '  endFrames: 10001', //       12
      'sinks:', //                   13
      '  mqtt:', //                  14
      '    url: http://broker', //   15
      '    prefix: a/#', //          16
      '    qos: 3', //               17
      '  webhook: {url: "ftp://x", retries: -1}', // 18
      'extra: 1', //                 19
    ].join('\n');
    let err: WatchConfigError | undefined;
    try {
      parseWatchConfig(text, 'gw.yaml');
    } catch (e) {
      err = e as WatchConfigError;
    }
    expect(err).toBeInstanceOf(WatchConfigError);
    const lines = err!.message.split('\n');
    expect(lines[0]).toBe(`gw.yaml: ${err!.problems.length} problems`);
    const byPath = Object.fromEntries(err!.problems.map((p) => [p.path, p]));
    const at = (path: string) => ({ line: byPath[path]?.line, message: byPath[path]?.message });
    expect(at('cameras[0].name')).toEqual({ line: 2, message: expect.stringContaining("got 'bad name'") });
    expect(at('cameras[0].fps')).toEqual({ line: 4, message: 'must be a number from 0.1 to 60 (frames/s); got 0' });
    expect(at('cameras[0].rio')).toEqual({ line: 5, message: expect.stringContaining('unknown key') });
    expect(at('cameras[1].source')).toEqual({ line: 6, message: 'is required' });
    expect(at('cameras[1].fps')).toEqual({ line: 7, message: "must be a number from 0.1 to 60 (frames/s); got 'fast'" });
    expect(at('model.folder')).toEqual({ line: 8, message: 'is required' });
    expect(at('model.precision')).toEqual({ line: 9, message: "must be one of fp32, fp16, int8; got 'fp64'" });
    expect(at('events.startFrames')).toEqual({ line: 11, message: 'must be an integer from 1 to 1000 (frames); got 2.5' });
    expect(at('events.endFrames')).toEqual({ line: 12, message: 'must be an integer from 1 to 10000 (frames); got 10001' });
    expect(at('sinks.mqtt.url')).toEqual({ line: 15, message: expect.stringContaining('must be a mqtt, mqtts, ws, wss, tcp, ssl URL; got http:') });
    expect(at('sinks.mqtt.prefix')).toEqual({ line: 16, message: expect.stringContaining("got 'a/#'") });
    expect(at('sinks.mqtt.qos')).toEqual({ line: 17, message: 'must be 0, 1 or 2; got 3' });
    expect(at('sinks.webhook.url')).toEqual({ line: 18, message: expect.stringContaining('got ftp:') });
    expect(at('sinks.webhook.retries')).toEqual({ line: 18, message: 'must be an integer from 0 to 20; got -1' });
    expect(at('extra')).toEqual({ line: 19, message: expect.stringContaining('unknown key (allowed: cameras, model') });
    expect(lines).toContain('cameras[0].fps (line 4): must be a number from 0.1 to 60 (frames/s); got 0');
    expect(err!.problems).toHaveLength(15);
  });

  it('reports YAML syntax errors and duplicate keys with their lines', () => {
    const dup = problems('cameras: []\nmodel:\n  folder: a\n  folder: b\n');
    expect(dup).toEqual([{ path: '(yaml)', line: 4, message: 'Map keys must be unique' }]);
    const bad = problems('cameras:\n  - name: a\n    source: [1,\nmodel: x\n');
    expect(bad.length).toBeGreaterThan(0);
    expect(bad[0]!.path).toBe('(yaml)');
    expect(bad[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it('refuses empty files, wrong shapes and missing sections', () => {
    expect(problems('')).toEqual([{ path: '(file)', message: expect.stringContaining('is empty') }]);
    expect(problems('- a\n- b\n')).toEqual([{ path: '(file)', message: 'must be a mapping; got a list' }]);
    expect(problems('model:\n  folder: m\n')).toEqual([{ path: 'cameras', message: expect.stringContaining('is required') }]);
    expect(problems('cameras: []\nmodel: {folder: m}\n')).toEqual([{ path: 'cameras', line: 1, message: 'must be a non-empty list of cameras; got a list' }]);
    expect(problems('cameras:\n  - name: a\n    source: s\n')).toEqual([{ path: 'model', message: 'is required' }]);
    expect(problems('cameras:\n  - just-a-string\nmodel: {folder: m}\n')).toEqual([{ path: 'cameras[0]', line: 2, message: "must be a mapping; got 'just-a-string'" }]);
  });

  it('refuses duplicate camera names, bad roi, booleans written as yes, bad sizes', () => {
    const p = problems([
      'cameras:',
      '  - {name: a, source: rtsp://h/1, loop: yes}',
      '  - name: a',
      '    source: rtsp://h/2',
      '    roi: {x: -1, y: 0, w: 0}',
      'model: {folder: m, executionProviders: []}',
      'snapshots: {dir: s, maxBytes: 12 parsecs, maxCount: 0}',
      'http: {port: 8080, healthPort: 8080}',
      'ffmpeg: {reconnectMinMs: 5000, reconnectMaxMs: 1000}',
    ].join('\n'));
    const msgs = p.map((x) => `${x.path}@${x.line}`);
    expect(msgs).toEqual([
      'cameras[0].loop@2',
      'cameras[1].roi.x@5',
      'cameras[1].roi.w@5',
      'cameras[1].roi.h@5',
      'cameras[1].name@3',
      'model.executionProviders@6',
      'snapshots.maxCount@7',
      'snapshots.maxBytes@7',
      'http.healthPort@8',
      'ffmpeg.reconnectMaxMs@9',
    ]);
    expect(p[0]!.message).toBe("must be true or false; got 'yes'");
    expect(p[3]!.message).toBe('is required');
    expect(p[4]!.message).toBe("'a' is already the name of cameras[0]");
    expect(p[7]!.message).toContain("got '12 parsecs'");
  });

  it('refuses a source URL with an unsupported scheme, a password without a user, a non-string', () => {
    const p = problems([
      'cameras:',
      '  - {name: a, source: "gopher://h/1"}',
      '  - {name: b, source: 42}',
      'model: {folder: m}',
      'sinks: {jsonl: 3, mqtt: {url: "mqtt://h", password: p}}',
    ].join('\n'));
    expect(p.map((x) => [x.path, x.line, x.message])).toEqual([
      ['cameras[0].source', 2, expect.stringContaining('got gopher:')],
      ['cameras[1].source', 3, 'must be a string; got 42'],
      ['sinks.jsonl', 5, 'must be a string; got 3'],
      ['sinks.mqtt.password', 5, 'needs sinks.mqtt.username'],
    ]);
  });
});

describe('watch config from flags', () => {
  it('builds a single-camera config with the same defaults, stdout JSON lines when no sink', () => {
    const c = watchConfigFromFlags({ source: 'rtsp://h/s', model: 'models/fm0', fps: '2', roi: '1,2,30,40', executionProviders: 'cpu' }, { baseDir: '/srv' });
    expect(c.cameras).toEqual([{ name: 'camera', source: 'rtsp://h/s', fps: 2, loop: false, roi: { x: 1, y: 2, w: 30, h: 40 } }]);
    expect(c.model).toEqual({ folder: '/srv/models/fm0', executionProviders: ['cpu'], precision: 'fp32' });
    expect(c.sinks).toEqual({ jsonl: 'stdout' });
    expect(c.events).toEqual(parseWatchConfig(MIN).events);
    const m = watchConfigFromFlags({ source: 'v.mkv', model: '/m', mqtt: 'mqtt://127.0.0.1:1', mqttPrefix: 'x', snapshots: '/snaps', name: 'door' });
    expect(m.sinks.jsonl).toBeUndefined();
    expect(m.sinks.mqtt?.prefix).toBe('x');
    expect(m.snapshots?.dir).toBe('/snaps');
    expect(m.cameras[0]!.name).toBe('door');
  });

  it('names the flag in every problem', () => {
    let err: WatchConfigError | undefined;
    try {
      watchConfigFromFlags({ fps: '100', roi: '1,2,3', startFrames: 'x', precision: 'fp8' });
    } catch (e) {
      err = e as WatchConfigError;
    }
    expect(err).toBeInstanceOf(WatchConfigError);
    expect(err!.message.split('\n').slice(1)).toEqual([
      'cameras[0].source (--source): is required',
      'cameras[0].fps (--fps): must be a number from 0.1 to 60 (frames/s); got 100',
      "cameras[0].roi (--roi): must be a mapping; got '1,2,3'",
      'model.folder (--model): is required',
      "model.precision (--precision): must be one of fp32, fp16, int8; got 'fp8'",
      "events.startFrames (--start-frames): must be an integer from 1 to 1000 (frames); got 'x'",
    ]);
  });

  it('refuses a non-object and a non-string config text with TypeError', () => {
    expect(() => watchConfigFromFlags(null as never)).toThrow(TypeError);
    expect(() => parseWatchConfig(3 as never)).toThrow(TypeError);
  });
});
