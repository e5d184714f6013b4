// The gateway's commands, as a module: the `ganomaly-gateway` bin runs them, and the toolkit's
// `ganomaly serve` / `ganomaly watch` import this (`@ganomaly-edge/gateway/cli`) and delegate.
import { runServe } from './serve.js';
import { runWatch } from './watch.js';

export type GatewayCommand = (argv: string[], prog?: string) => Promise<number>;

export const GATEWAY_COMMANDS: Record<'serve' | 'watch', { summary: string; run: GatewayCommand }> = {
  serve: { summary: 'serve a model over HTTP (micro-batching, metrics, health port)', run: runServe },
  watch: { summary: 'watch cameras, score their frames, publish anomaly events', run: runWatch },
};

export { runServe, runWatch };
