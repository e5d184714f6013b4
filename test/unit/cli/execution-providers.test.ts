// --execution-providers on score, serve and eval, with the deprecated --providers / --provider.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { executionProvidersOption, UsageError } from '../../../src/cli-args.js';
import { run as evalRun } from '../../../src/cli/eval.js';
import { run as scoreRun } from '../../../src/cli/score.js';
import { runServe as serveRun } from '../../../src/gateway/cli/serve.js';

afterEach(() => vi.restoreAllMocks());

describe('executionProvidersOption', () => {
  it('reads a comma list under either name', () => {
    expect(executionProvidersOption('cuda, cpu', undefined, 'providers')).toEqual(['cuda', 'cpu']);
    expect(executionProvidersOption(undefined, 'cpu', 'providers')).toEqual(['cpu']);
    expect(executionProvidersOption(undefined, undefined, 'providers')).toBeUndefined();
    expect(executionProvidersOption('cpu', ' cpu ', 'provider')).toEqual(['cpu']); // same list twice is fine
  });

  it('refuses an empty list and two different lists', () => {
    expect(() => executionProvidersOption(',', undefined, 'providers')).toThrow(/--execution-providers needs at least one/);
    expect(() => executionProvidersOption(undefined, '', 'provider')).toThrow(/--provider needs at least one/);
    expect(() => executionProvidersOption('cpu', 'cuda,cpu', 'providers')).toThrow(UsageError);
    expect(() => executionProvidersOption('cpu', 'cuda,cpu', 'providers')).toThrow(/--providers is the deprecated name of --execution-providers/);
  });
});

describe.each([
  ['score', scoreRun, '--providers', ['x.png']],
  ['serve', serveRun, '--providers', []],
  ['eval', evalRun, '--provider', []],
] as const)('ganomaly %s', (_name, run, old, positionals) => {
  it(`--help names --execution-providers and marks ${old} deprecated`, async () => {
    let out = '';
    vi.spyOn(console, 'log').mockImplementation((s) => void (out += String(s)));
    expect(await run(['--help'])).toBe(0);
    expect(out).toContain('--execution-providers <list>');
    expect(out).toMatch(new RegExp(`${old} <list>\\s+deprecated`));
  });

  it(`--execution-providers and ${old} with different lists is a UsageError`, async () => {
    await expect(run(['--model', '/nonexistent/model', '--execution-providers', 'cpu', old, 'cuda', ...positionals])).rejects.toThrow(/deprecated name of --execution-providers/);
  });
});
