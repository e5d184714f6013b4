#!/usr/bin/env node
// `ganomaly-gateway <command>`: serve and watch, for a machine that scores and never trains.
import { displayPath } from '@ganomaly-edge/runtime/node';
import { UsageError, USAGE_ERROR_CODES } from '../../cli-args.js';
import { GATEWAY_COMMANDS } from './commands.js';

const PROG = 'ganomaly-gateway';

function usage(): string {
  const lines = Object.entries(GATEWAY_COMMANDS).map(([k, v]) => `  ${k.padEnd(8)} ${v.summary}`);
  return `Usage: ${PROG} <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun '${PROG} <command> --help' for a command's options.`;
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return 0;
  }
  const entry = GATEWAY_COMMANDS[cmd as keyof typeof GATEWAY_COMMANDS];
  if (!entry) throw new UsageError(`unknown command '${cmd}' (try '${PROG} --help')`);
  return entry.run(rest, PROG);
}

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    // A path of thousands of characters (ENAMETOOLONG) is shown by its ends, wherever it appears.
    process.stderr.write(`${PROG}: ${e.name !== 'Error' ? `${e.name}: ` : ''}${e.message.replace(/\S{161,}/g, displayPath)}\n`);
    if (process.env.GANOMALY_DEBUG) process.stderr.write(`${e.stack}\n`);
    process.exitCode = USAGE_ERROR_CODES.includes((e as { code?: unknown }).code) ? 2 : 1;
  },
);
