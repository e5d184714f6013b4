// What the CLI prints (issue 23): names from the file system or a manifest are escaped, so a file
// named with a newline and ANSI codes cannot forge table rows or recolour the terminal; the score
// table lines up whatever the path lengths; -q prints nothing on stderr, the execution-provider
// fallback line included; and every flag a serve error names is a real serve flag.
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseCommandArgs, printable, UsageError } from '../../../src/cli-args.js';
import { makeModelFolder, testImage, TINY_CONFIG, type TestModel } from '../../helpers/make-model.js';

let model: TestModel;
let dir: string;

beforeAll(async () => {
  model = await makeModelFolder(TINY_CONFIG, 3);
  dir = await mkdtemp(join(tmpdir(), 'ganomaly-cli-output-'));
});

afterEach(() => vi.restoreAllMocks());

async function png(path: string, seed: number): Promise<string> {
  const img = testImage(40, 40, 1, seed);
  await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toFile(path);
  return path;
}

/** Runs a command in-process, capturing what it writes to stdout and stderr. */
async function capture(run: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  vi.spyOn(console, 'log').mockImplementation((s) => void (out += `${String(s)}\n`));
  try {
    return { code: await run(), out, err };
  } finally {
    vi.restoreAllMocks();
  }
}

const ESC = '\x1b';

describe('printable', () => {
  it('writes control characters, C1 controls and bidi overrides as escapes, and leaves the rest', () => {
    expect(printable(`a\nb\r\t${ESC}[31mred\x9b\u202egnp.exe`)).toBe('a\\nb\\r\\t\\x1b[31mred\\x9b\\u202egnp.exe');
    expect(printable('défaut/ñ 画像.png')).toBe('défaut/ñ 画像.png');
  });
});

describe('ganomaly score output', () => {
  it('escapes a file name with a newline and ANSI codes: one row per image, no escape byte reaches the terminal', async () => {
    const { run } = await import('../../../src/cli/score.js');
    const sub = join(dir, 'forged');
    await mkdir(sub);
    await png(join(sub, `x.png\nfake.png  0.0000e+0  0.0000  normal${ESC}[2K.png`), 1);
    await png(join(sub, 'ok.png'), 2);
    const { code, out } = await capture(() => run(['--model', model.dir, '--execution-providers', 'cpu', '-q', sub]));
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(3); // header + two images, no forged row
    expect(out).not.toContain(ESC);
    const forged = lines.find((l) => l.includes('x.png'))!;
    expect(forged).toContain('x.png\\nfake.png');
    expect(forged).toContain('\\x1b[2K');
  });

  it('the columns line up with paths of different lengths, short and past 60 characters', async () => {
    const { run } = await import('../../../src/cli/score.js');
    const a = await png(join(dir, 'a.png'), 3);
    const long = await png(join(dir, `${'l'.repeat(70)}.png`), 4);
    const mid = await png(join(dir, 'middle-length-name.png'), 5);
    const { out } = await capture(() => run(['--model', model.dir, '--execution-providers', 'cpu', '-q', a, long, mid]));
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    // The score column ends at the same place on every line (header included).
    const scoreEnd = (l: string, word: string) => l.indexOf(word) + word.length;
    const header = scoreEnd(lines[0]!, 'score');
    for (const l of lines.slice(1)) expect(scoreEnd(l, l.match(/\d\.\d{4}e[+-]\d+/)![0]), l).toBe(header);
    const verdictAt = lines.map((l) => l.search(/ (verdict|normal|ANOMALY)$/));
    expect(new Set(verdictAt).size, out).toBe(1);
  });

  it('-q prints nothing on stderr, the CUDA fallback line included', async () => {
    const { run } = await import('../../../src/cli/score.js');
    const a = await png(join(dir, 'q.png'), 6);
    const loud = await capture(() => run(['--model', model.dir, '--execution-providers', 'cuda,cpu', a]));
    // Where CUDA's libraries are missing (as here), the fallback says so without -q ...
    expect(loud.err).toMatch(/execution provider .*cuda.* unavailable; using 'cpu'/);
    const quiet = await capture(() => run(['--model', model.dir, '--execution-providers', 'cuda,cpu', '-q', a]));
    expect(quiet.code).toBe(0);
    // ... and -q keeps it, like the summary, off stderr.
    expect(quiet.err).toBe('');
  });

  it('--heatmap-size past 4096 is refused before the model loads (100000 ran for minutes)', async () => {
    const { run } = await import('../../../src/cli/score.js');
    const out = join(dir, 'heat');
    await expect(run(['--model', '/nonexistent/model', '--heatmap', out, '--heatmap-size', '100000', join(dir, 'a.png')]))
      .rejects.toThrow(/^--heatmap-size must be an integer from 1 to 4096 \(px\); got '100000'$/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });
});

describe('ganomaly triton output', () => {
  it('escapes the folder it names', async () => {
    const { run } = await import('../../../src/cli/triton.js');
    const repo = join(dir, `repo\n${ESC}[31mwrote fake`);
    const { code, out } = await capture(() => run(['--model', model.dir, '--out', repo]));
    expect(code).toBe(0);
    expect(out).not.toContain(ESC);
    expect(out.trimEnd().split('\n')).toHaveLength(2);
    expect(out).toContain('repo\\n\\x1b[31mwrote fake');
  });
});

describe('negative numbers on the command line', () => {
  it('`--port -1` reaches the number check; `--model -x` is still a missing value', () => {
    const opts = { port: { type: 'string' }, model: { type: 'string', short: 'm' } } as const;
    expect(parseCommandArgs(['--port', '-1'], opts).values.port).toBe('-1');
    expect(parseCommandArgs(['-m', '-.5'], opts).values.model).toBe('-.5');
    expect(() => parseCommandArgs(['--model', '-x'], opts)).toThrow(UsageError);
    // After `--`, everything is a positional.
    expect(parseCommandArgs(['--', '--port', '-1'], opts).positionals).toEqual(['--port', '-1']);
  });
});

describe('serve names real flags', () => {
  it('every --flag in the serve sources (HTTP error bodies included) is a serve option', async () => {
    const { runServe } = await import('../../../src/gateway/cli/serve.js');
    const { out: help } = await capture(() => runServe(['--help']));
    const known = new Set([...help.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]));
    const srcDir = 'src/gateway/serve';
    const named = new Map<string, string>();
    for (const f of await readdir(srcDir)) {
      for (const m of (await readFile(join(srcDir, f), 'utf8')).matchAll(/--([a-z][a-z0-9-]*)/g)) named.set(m[1]!, f);
    }
    expect(named.size).toBeGreaterThan(0);
    // V8's own flags, set inside a decode worker (v8.setFlagsFromString), are not serve options.
    const v8Flags = new Set(['expose-gc']);
    const unknown = [...named].filter(([flag]) => !known.has(flag) && !v8Flags.has(flag)).map(([flag, f]) => `--${flag} (${f})`);
    expect(unknown).toEqual([]); // budget.ts named --max-decoded-bytes; the flag is --max-decoded
  });
});
