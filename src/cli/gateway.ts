// `ganomaly serve` and `ganomaly watch` are the gateway package's commands. The toolkit lists
// @ganomaly-edge/gateway as an optional dependency: the gateway needs onnxruntime-node, whose
// install script fails offline without `onnxruntime-node-install=skip`, and npm then drops the
// gateway with it rather than failing a trainer's whole install. Here that absence is one line.
import { MissingDependencyError } from '@ganomaly-edge/runtime';

type Commands = typeof import('@ganomaly-edge/gateway/cli');

const MISSING =
  "@ganomaly-edge/gateway is not installed (npm drops it when onnxruntime-node's install fails): " +
  "put 'onnxruntime-node-install=skip' in your .npmrc, then npm install onnxruntime-node @ganomaly-edge/gateway";

/** The gateway's commands, or null when the package is not installed. */
async function loadGateway(): Promise<Commands | null> {
  try {
    return await import('@ganomaly-edge/gateway/cli');
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /@ganomaly-edge\/gateway/.test(err.message ?? '')) return null;
    throw e;
  }
}

export function gatewayCommand(name: 'serve' | 'watch'): { run(argv: string[]): Promise<number> } {
  return {
    run: async (argv) => {
      const gateway = await loadGateway();
      if (gateway) return gateway.GATEWAY_COMMANDS[name].run(argv, 'ganomaly');
      // --help still answers, and says what to install to get the command.
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(`Usage: ganomaly ${name} [options]\n\n'ganomaly ${name}' is the gateway's command, and ${MISSING}.`);
        return 0;
      }
      throw new MissingDependencyError('@ganomaly-edge/gateway', MISSING);
    },
  };
}
