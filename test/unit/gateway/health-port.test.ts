// The health port's default (issue 19): on unless disabled, at the main port + 1, any free port
// when the main port is any free port; the CLI spells the same choices.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveHealthPort, SERVE_DEFAULTS } from '../../../src/gateway/serve/server.js';
import { runWatch } from '../../../src/gateway/cli/watch.js';
import { GATEWAY_COMMANDS } from '../../../src/gateway/cli/commands.js';
import { GanomalyError } from '../../../src/runtime/node.js';

afterEach(() => vi.restoreAllMocks());

describe('resolveHealthPort', () => {
  it('defaults to port + 1, and to any free port when port is 0', () => {
    expect(resolveHealthPort(SERVE_DEFAULTS.port, undefined)).toBe(8081);
    expect(resolveHealthPort(9000, undefined)).toBe(9001);
    expect(resolveHealthPort(0, undefined)).toBe(0);
  });

  it('takes an explicit port (0-65535) or false for none', () => {
    expect(resolveHealthPort(8080, 9100)).toBe(9100);
    expect(resolveHealthPort(8080, 0)).toBe(0);
    expect(resolveHealthPort(8080, false)).toBeUndefined();
  });

  it('refuses what cannot be a port: RangeError, TypeError', () => {
    expect(() => resolveHealthPort(65535, undefined)).toThrow(RangeError);
    expect(() => resolveHealthPort(65535, undefined)).toThrow(/healthPort: false/);
    for (const bad of [-1, 65536, 1.5, Number.NaN]) expect(() => resolveHealthPort(8080, bad)).toThrow(RangeError);
    expect(() => resolveHealthPort(8080, true as unknown as number)).toThrow(TypeError);
    expect(() => resolveHealthPort(8080, '8081' as unknown as number)).toThrow(TypeError);
  });
});

describe('ganomaly-gateway commands', () => {
  it('serve and watch are registered, with --help', async () => {
    expect(Object.keys(GATEWAY_COMMANDS).sort()).toEqual(['serve', 'watch']);
    let out = '';
    vi.spyOn(console, 'log').mockImplementation((s) => void (out += `${String(s)}\n`));
    expect(await GATEWAY_COMMANDS.watch.run(['--help'], 'ganomaly-gateway')).toBe(0);
    for (const opt of ['--config', '--source', '--model', '--fps']) expect(out).toContain(opt);
    expect(out).toMatch(/^Usage: ganomaly-gateway watch/);
    out = '';
    expect(await GATEWAY_COMMANDS.serve.run(['--help'], 'ganomaly')).toBe(0);
    expect(out).toMatch(/^Usage: ganomaly serve --model/);
    expect(out).toContain('--no-health-port');
  });

  it('watch: a missing model is a typed error before any camera starts; --config with camera flags and unknown options are usage errors', async () => {
    const e = await runWatch(['--source', 'rtsp://127.0.0.1:1/cam', '--model', 'no-such-model-folder', '--port', '0', '--health-port', '0'])
      .then(() => null, (x: unknown) => x as GanomalyError);
    expect(e).toBeInstanceOf(GanomalyError);
    expect(e!.code).toBe('model_not_found');
    await expect(runWatch(['--config', 'g.yaml', '--fps', '2'])).rejects.toMatchObject({ code: 'invalid_usage', message: expect.stringMatching(/drop --fps/) });
    await expect(runWatch(['--camera', 'x'])).rejects.toMatchObject({ code: 'invalid_usage' });
  });
});
