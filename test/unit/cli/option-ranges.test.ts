// Issue 23, "numbers without an upper bound": every numeric option of every command and library
// call has a range in one table (src/option-ranges.ts). This test enumerates them all — from the
// table, and from each command's --help, so a new numeric flag cannot be left out — and checks that
// below-min, above-max, fractional, negative and huge values are refused at parse time with a
// one-line RangeError naming the flag (or, through the library, the field), and that the docs'
// range tables are what the table generates.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { USAGE_ERROR_CODES } from '../../../src/cli-args.js';
import { inRange, OPTION_RANGES, parseRanged, type NumericOption } from '../../../src/option-ranges.js';
import { RANGE_DOC_FILES, rangeBlocks, withRangeTables } from '../../../scripts/option-ranges-docs.js';

afterEach(() => vi.restoreAllMocks());

const NO_MODEL = '/nonexistent/ganomaly-model';
const TMP = mkdtempSync(join(tmpdir(), 'ganomaly-ranges-'));

type CliCommand = Exclude<keyof typeof OPTION_RANGES, 'runtime' | 'browser'>;
type Run = (argv: string[]) => Promise<number>;

/** Each command, with the arguments it needs to get as far as its number checks. */
const COMMANDS: Record<CliCommand, { run: () => Promise<Run>; args: string[] }> = {
  train: { run: async () => (await import('../../../src/cli/train.js')).run, args: ['--data', 'folder:/nonexistent', '--out', join(TMP, 'run')] },
  export: { run: async () => (await import('../../../src/cli/export.js')).run, args: ['/nonexistent/run', '--out', join(TMP, 'model')] },
  quantize: { run: async () => (await import('../../../src/cli/quantize.js')).run, args: ['--model', NO_MODEL] },
  score: { run: async () => (await import('../../../src/cli/score.js')).run, args: ['--model', NO_MODEL, '/nonexistent/a.png'] },
  eval: { run: async () => (await import('../../../src/cli/eval.js')).run, args: ['--model', NO_MODEL] },
  triton: { run: async () => (await import('../../../src/cli/triton.js')).run, args: ['--model', NO_MODEL, '--out', join(TMP, 'triton')] },
  serve: { run: async () => (await import('../../../src/gateway/cli/serve.js')).runServe, args: ['--model', NO_MODEL] },
  watch: { run: async () => (await import('../../../src/gateway/cli/watch.js')).runWatch, args: ['--source', '/nonexistent/video.mp4', '--model', NO_MODEL] },
};

const entries = (command: keyof typeof OPTION_RANGES) => Object.values(OPTION_RANGES[command]) as NumericOption[];
const flagged = (command: CliCommand) => entries(command).filter((o) => o.flag !== undefined);

async function helpOf(command: CliCommand): Promise<string> {
  let out = '';
  vi.spyOn(console, 'log').mockImplementation((s) => void (out += `${String(s)}\n`));
  expect(await (await COMMANDS[command].run())(['--help'])).toBe(0);
  vi.restoreAllMocks();
  return out;
}

// Placeholders in --help that stand for one number, and those that do not: every placeholder must
// be one or the other, so a new kind of placeholder makes this test decide which it is.
const NUMERIC = new Set(['n', 'N', 'x', 'q', 'f', 'ms', 'us', 'px', 'size', '1|3']);
const NOT_NUMERIC = new Set([
  'dir', 'spec', 'K', 'list', 'name', 'p', 'dir|url', 'addr', 'url|path', 'url|file|dir', 'path|-', 'url', 'x,y,w,h', 'file',
  'gateway.yaml', 'out', 'model dir', 'image|dir', 'run dir', 'repository dir', 'cpu|gpu', 'l', 'l2|l1', 'command', 'path', 'p>', 'tfjs backend', 'WxH|any',
]);

/** `--flag <placeholder>` pairs of a help text. */
function placeholders(help: string): [string, string][] {
  return [...help.matchAll(/--([a-z0-9-]+)[ =]<([^>]+)>/g)].map((m) => [m[1]!, m[2]!]);
}

/** Values of each kind the range must refuse, as CLI text. */
function badTexts(o: NumericOption): [string, string][] {
  const out: [string, string][] = [];
  const unboundedBelow = o.min === -Number.MAX_VALUE;
  const unboundedAbove = o.max === Number.MAX_VALUE;
  if (!unboundedBelow) {
    const below = o.minExclusive ? o.min : o.integer ? o.min - 1 : o.min - Math.max(Math.abs(o.min) / 2, 0.001);
    out.push(['below min', String(below)]);
  }
  out.push(['above max', unboundedAbove ? '1e400' : String(o.maxExclusive ? o.max : o.integer ? o.max + 1 : o.max + Math.max(Math.abs(o.max) / 2, 0.001))]);
  if (o.integer) out.push(['not an integer', String(o.min + 0.5)]);
  if (!inRange(o, -1)) out.push(['negative', '-1']);
  out.push(['infinite', '1e400']);
  if (!inRange(o, 2 ** 53 + 2)) out.push(['beyond MAX_SAFE_INTEGER', '9007199254740993'], ['huge', '999999999999999999999']);
  if (o.multipleOf) out.push(['not a multiple', String(o.min + o.multipleOf / 2)]);
  if (o.oneOf) out.push(['not one of the values', String(o.oneOf[0]! + 1)]);
  out.push(['not a number', 'ten']);
  return out;
}

/** Values of the range's edges that must pass. */
function goodTexts(o: NumericOption): string[] {
  if (o.oneOf) return o.oneOf.map(String);
  const lo = o.min === -Number.MAX_VALUE ? -1e300 : o.minExclusive ? o.min + (o.max - o.min) / 4 : o.min;
  const hi = o.max === Number.MAX_VALUE ? 1e300 : o.maxExclusive ? o.max - (o.max - o.min) / 4 : o.max;
  return [lo, hi].map(String);
}

describe('the option range table', () => {
  it('every range is sound: min ≤ max, within safe integers where whole, flags and fields unique per command', () => {
    for (const [command, table] of Object.entries(OPTION_RANGES)) {
      const flags = new Set<string>();
      for (const o of Object.values(table) as NumericOption[]) {
        expect(o.flag ?? o.field, `${command}: an entry with neither flag nor field`).toBeDefined();
        expect(o.min, `${command} ${o.flag ?? o.field}`).toBeLessThan(o.max);
        if (o.integer && o.max !== Number.MAX_VALUE) expect(Number.isSafeInteger(o.max)).toBe(true);
        if (o.flag) {
          expect(flags.has(o.flag), `${command}: --${o.flag} twice`).toBe(false);
          flags.add(o.flag);
        }
        for (const t of goodTexts(o)) expect(parseRanged(t, o), `${command} --${o.flag} ${t}`).toBe(Number(t));
      }
    }
  });

  it('timers stay within setTimeout (2^31−1 ms), decode threads within 64, heatmaps within 4096 px, ports within 0-65535', () => {
    expect(OPTION_RANGES.serve.timeoutMs.max).toBe(2 ** 31 - 1);
    expect(OPTION_RANGES.serve.decodeConcurrency.max).toBe(64);
    expect(OPTION_RANGES.score.heatmapSize.max).toBe(4096);
    expect([OPTION_RANGES.serve.port.min, OPTION_RANGES.serve.port.max]).toEqual([0, 65535]);
    for (const command of Object.keys(OPTION_RANGES) as (keyof typeof OPTION_RANGES)[]) {
      for (const o of entries(command)) if (o.unit === 'ms') expect(o.max, `${command} ${o.flag ?? o.field}`).toBeLessThanOrEqual(2 ** 31 - 1);
    }
  });
});

describe.each(Object.keys(COMMANDS) as CliCommand[])('%s: every numeric flag', (command) => {
  it('--help lists exactly the numeric flags of the table (and nothing numeric outside it)', async () => {
    const help = await helpOf(command);
    const pairs = placeholders(help);
    for (const [flag, p] of pairs) expect(NUMERIC.has(p) || NOT_NUMERIC.has(p), `${command} --${flag} <${p}>: classify this placeholder`).toBe(true);
    const numericInHelp = new Set(pairs.filter(([, p]) => NUMERIC.has(p)).map(([f]) => f));
    expect(numericInHelp).toEqual(new Set(flagged(command).map((o) => o.flag)));
  });

  it.each(flagged(command).map((o) => [o.flag!, o] as const))('--%s: out-of-range values are a one-line RangeError naming the flag, at parse time', async (flag, o) => {
    const run = await COMMANDS[command].run();
    for (const [why, text] of badTexts(o)) {
      // The separate-token form: `--port -1` must reach the range check, not "argument is ambiguous".
      const e = await run([...COMMANDS[command].args, `--${flag}`, text]).then(() => null, (x: unknown) => x as Error & { code?: string });
      expect(e, `${command} --${flag} ${text} (${why}) was accepted`).toBeInstanceOf(RangeError);
      expect(e!.message, `${command} --${flag} ${text} (${why})`).toMatch(new RegExp(`^--${flag} must be .*; got '${text.replace(/[.+]/g, '\\$&')}'$`));
      expect(e!.message).not.toContain('\n');
      expect(USAGE_ERROR_CODES).toContain(e!.code);
    }
  });
});

describe('train refuses a model too big to build before anything is written', () => {
  it('--ndf 100000 is a range error and leaves no run folder (it used to write config.json, then fail with "Invalid typed array length")', async () => {
    const { run } = await import('../../../src/cli/train.js');
    const out = join(TMP, 'ndf');
    await expect(run(['--data', 'fashion-mnist', '--out', out, '--ndf', '100000'])).rejects.toThrow(/^--ndf must be an integer from 1 to 1024; got '100000'$/);
    expect(existsSync(out)).toBe(false);
  });

  it('widths each in range but too big together at this input size: refused with the sizes, nothing written', async () => {
    const { run } = await import('../../../src/cli/train.js');
    const out = join(TMP, 'big');
    const e = await run(['--data', 'fashion-mnist', '--out', out, '--isize', '512', '--ngf', '512']).then(() => null, (x: unknown) => x as RangeError & { code?: string });
    expect(e).toBeInstanceOf(RangeError);
    expect(e!.message).toMatch(/^isize 512, nz 100, ngf 512, ndf 512 make 171\.2 GiB of float32 weights .*at most 2\.0 GiB: lower ngf, ndf, nz or isize$/);
    expect(USAGE_ERROR_CODES).toContain(e!.code); // exit code 2, as for any bad argument
    expect(existsSync(out)).toBe(false);
  });
});

// ---- the library checks the same table --------------------------------------------------------

/** A copy of `base` with `path` (a.b.c, cameras[] = first camera) set to `value`. */
function withPath(base: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const out = structuredClone(base);
  const keys = path.replace(/\[\]/g, '.0').split('.');
  let o: Record<string, unknown> = out;
  for (const k of keys.slice(0, -1)) {
    o[k] ??= {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys.at(-1)!] = value;
  return out;
}

/** Numbers (not text) each range must refuse. */
function badNumbers(o: NumericOption): number[] {
  return [...badTexts(o).map(([, t]) => Number(t)).filter((n) => !Number.isNaN(n)), NaN, 2 ** 53 + 2].filter((n) => !inRange(o, n));
}

const TRAIN_BASE = {
  model: { isize: 32, nc: 1, nz: 16, ngf: 8, ndf: 8, scoreKind: 'l2' }, epochs: 1, batchSize: 4, lr: 2e-4, beta1: 0.5, beta2: 0.999,
  weights: { adv: 1, con: 50, enc: 1 }, seed: 0, validationFraction: 0.1,
};

/** Calls the library with `field` = `value`; resolves to the error it gave (null when it gave none for the value). */
const LIBRARY: Record<keyof typeof OPTION_RANGES, (field: string, value: number) => Promise<unknown>> = {
  async train(field, value) {
    const { validateTrainConfig } = await import('../../../src/config/train-config.js');
    return Promise.resolve().then(() => validateTrainConfig(withPath(TRAIN_BASE, field, value) as never)).then(() => null, (e: unknown) => e);
  },
  async export(field, value) {
    const { exportRun } = await import('../../../src/export/exportRun.js');
    return exportRun('/nonexistent/run', { out: join(TMP, 'export-lib'), [field]: value }).then(() => null, (e: unknown) => e);
  },
  quantize: async () => null,
  async score(field, value) {
    return LIBRARY.runtime(field, value);
  },
  async runtime(field, value) {
    const { createDetector, renderHeatmapPng } = await import('../../../src/runtime/node.js');
    if (field === 'renderHeatmapPng size') {
      const result = { anomalyMap: { data: new Float32Array(4), channels: 1, height: 2, width: 2 } } as never;
      return renderHeatmapPng(result, { size: value }).then(() => null, (e: unknown) => e);
    }
    return createDetector({ model: NO_MODEL, [field]: value }).then(() => null, (e: unknown) => e);
  },
  async eval(field, value) {
    const { evaluateModel } = await import('../../../src/eval/evaluate.js');
    return evaluateModel({ model: NO_MODEL, [field]: value }).then(() => null, (e: unknown) => e);
  },
  async triton(field, value) {
    const { writeTritonRepository } = await import('../../../src/export/triton.js');
    const opts = field === 'instanceGroup.count' ? { instanceGroup: { count: value, kind: 'KIND_CPU' as const } } : { [field]: value };
    return writeTritonRepository(NO_MODEL, join(TMP, 'triton-lib'), opts).then(() => null, (e: unknown) => e);
  },
  async serve(field, value) {
    const { startServer } = await import('../../../src/gateway/serve/server.js');
    const opts = field === 'sessionOptions.intraOpNumThreads' ? { sessionOptions: { intraOpNumThreads: value } } : { [field]: value };
    return startServer({ model: NO_MODEL, port: 0, ...opts }).then(() => null, (e: unknown) => e);
  },
  async browser(field, value) {
    const { selectBrowserBackend } = await import('../../../src/browser/backend.js');
    return selectBrowserBackend('cpu', { [field]: value }).then(() => null, (e: unknown) => e);
  },
  async watch(field, value) {
    const { parseWatchConfig } = await import('../../../src/gateway/watch/config.js');
    const base = {
      cameras: [{ name: 'c', source: '/nonexistent/v.mp4', roi: { x: 0, y: 0, w: 8, h: 8 } }], model: { folder: NO_MODEL },
      snapshots: { dir: '/nonexistent/snaps' }, sinks: { webhook: { url: 'http://127.0.0.1:9/' }, mqtt: { url: 'mqtt://127.0.0.1:9' } },
    };
    // JSON is YAML; JSON has no Infinity or NaN, which YAML spells .inf and .nan.
    const text = JSON.stringify(withPath(base, field, value), (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `@@${v}` : v))
      .replace(/"@@Infinity"/g, '.inf').replace(/"@@-Infinity"/g, '-.inf').replace(/"@@NaN"/g, '.nan');
    return Promise.resolve().then(() => parseWatchConfig(text, 'test.yaml')).then(() => null, (e: unknown) => e);
  },
};

describe.each(Object.keys(OPTION_RANGES) as (keyof typeof OPTION_RANGES)[])('%s: the library refuses the same values', (command) => {
  const withField = entries(command).filter((o) => o.field !== undefined);
  if (withField.length === 0) it('takes no numbers', () => expect(entries(command)).toEqual([]));
  else it.each(withField.map((o) => [o.field!, o] as const))('%s', async (field, o) => {
    const name = field.replace(/^renderHeatmapPng /, '').replace(/^cameras\[\]/, 'cameras[0]');
    for (const value of badNumbers(o)) {
      const e = (await LIBRARY[command](field, value)) as Error & { problems?: { path: string; message: string }[] } | null;
      if (command === 'watch') {
        // The config file collects every problem, each with its path and the table's range.
        expect(e?.problems?.map((p) => p.path), `${field} = ${value}`).toContain(name);
        expect(e!.problems!.find((p) => p.path === name)!.message).toMatch(/^must be .*; got /);
      } else {
        expect(e, `${command} ${field} = ${value} was accepted`).toBeInstanceOf(RangeError);
        expect(e!.message, `${command} ${field} = ${value}`).toMatch(new RegExp(`^${name.replace(/[.[\]]/g, '\\$&')} must be `));
      }
    }
  });
});

describe('the docs list every range, generated from the table', () => {
  it.each(RANGE_DOC_FILES)('%s: its range blocks are what the table generates (npm run docs:ranges rewrites them)', (file) => {
    const text = readFileSync(file, 'utf8');
    expect(rangeBlocks(text).length).toBeGreaterThan(0);
    expect(text).toBe(withRangeTables(text));
  });

  it('the README covers every command, the gateway docs serve and watch', () => {
    const listed = (file: string) => new Set(rangeBlocks(readFileSync(file, 'utf8')).flat());
    expect(listed('README.md')).toEqual(new Set(Object.keys(OPTION_RANGES)));
    expect(listed('docs/serve.md')).toEqual(new Set(['serve']));
    expect(listed('packages/gateway/README.md')).toEqual(new Set(['serve', 'watch']));
  });
});
