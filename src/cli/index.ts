#!/usr/bin/env node
// `ganomaly <command>`: a thin shell over the library. Each command lives in its own file.
import { displayPath } from '@ganomaly-edge/runtime/node';
import { UsageError, USAGE_ERROR_CODES } from '../cli-args.js';
import { gatewayCommand } from './gateway.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  train: { summary: 'train a GANomaly model on normal images', load: () => import('./train.js') },
  export: { summary: 'export a run folder to ONNX graphs + manifest', load: () => import('./export.js') },
  quantize: { summary: 'add FP16/INT8 detectors to an exported model folder', load: () => import('./quantize.js') },
  score: { summary: 'score images with an exported model', load: () => import('./score.js') },
  serve: { summary: 'serve a model over HTTP (from @ganomaly-edge/gateway)', load: async () => gatewayCommand('serve') },
  watch: { summary: 'watch cameras and publish anomaly events (from @ganomaly-edge/gateway)', load: async () => gatewayCommand('watch') },
  triton: { summary: 'write a Triton Inference Server model repository', load: () => import('./triton.js') },
  eval: { summary: 'test-split ROC AUC, AP, P/R/F1 of an exported model', load: () => import('./eval.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(8)} ${v.summary}`);
  return `Usage: ganomaly <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'ganomaly <command> --help' for a command's options.`;
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return 0;
  }
  const entry = COMMANDS[cmd];
  if (!entry) throw new UsageError(`unknown command '${cmd}' (try 'ganomaly --help')`);
  const mod = await entry.load();
  return mod.run(rest);
}

main().then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    // A path of thousands of characters (ENAMETOOLONG) is shown by its ends, wherever it appears.
    process.stderr.write(`ganomaly: ${e.name !== 'Error' ? `${e.name}: ` : ''}${e.message.replace(/\S{161,}/g, displayPath)}\n`);
    if (process.env.GANOMALY_DEBUG) process.stderr.write(`${e.stack}\n`);
    // By code, not instanceof: the gateway's commands throw their own bundle's UsageError.
    process.exitCode = USAGE_ERROR_CODES.includes((e as { code?: unknown }).code) ? 2 : 1;
  },
);
