// Every server option an error message names (`server option --x`) is one `serve` accepts: the
// messages are what a client reads to fix its request, and --max-decoded-bytes was never a flag.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { GATEWAY_COMMANDS } from '../../../src/gateway/cli/commands.js';

afterEach(() => vi.restoreAllMocks());

it('the options named in serve error messages are flags of serve --help', async () => {
  let help = '';
  vi.spyOn(console, 'log').mockImplementation((s) => void (help += `${String(s)}\n`));
  expect(await GATEWAY_COMMANDS.serve.run(['--help'], 'ganomaly-gateway')).toBe(0);
  const flags = new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!));
  const dir = 'src/gateway/serve';
  const named = readdirSync(dir).filter((f) => f.endsWith('.ts')).flatMap((f) =>
    [...readFileSync(path.join(dir, f), 'utf8').matchAll(/server option (--[a-z][a-z-]*)/g)].map((m) => ({ file: f, flag: m[1]! })));
  expect(named.length).toBeGreaterThanOrEqual(8);
  expect(named.filter((n) => !flags.has(n.flag))).toEqual([]);
});
