// The toolkit's `ganomaly serve` and `ganomaly watch` are the gateway's commands, run under the
// toolkit's name (src/cli/gateway.ts): same options, same errors.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { gatewayCommand } from '../../../src/cli/gateway.js';

afterEach(() => vi.restoreAllMocks());

describe('ganomaly serve / watch delegate to @ganomaly-edge/gateway', () => {
  it.each(['serve', 'watch'] as const)('ganomaly %s --help is the gateway command’s help, under the toolkit’s name', async (name) => {
    let out = '';
    vi.spyOn(console, 'log').mockImplementation((s) => void (out += `${String(s)}\n`));
    expect(await gatewayCommand(name).run(['--help'])).toBe(0);
    expect(out).toMatch(new RegExp(`^Usage: ganomaly ${name} `));
    expect(out).toContain(name === 'serve' ? '--no-health-port' : '--source');
  });

  it('errors come from the gateway command: usage errors keep their code', async () => {
    await expect(gatewayCommand('serve').run([])).rejects.toMatchObject({ code: 'invalid_usage', message: expect.stringMatching(/ganomaly serve --model/) });
    await expect(gatewayCommand('serve').run(['--model', 'm', '--no-health-port', '--health-port', '1'])).rejects.toMatchObject({ code: 'invalid_usage' });
  });
});
