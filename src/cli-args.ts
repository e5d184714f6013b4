// CLI plumbing shared by the toolkit's `ganomaly` and the gateway's `ganomaly-gateway` (each bundles
// its own copy, so exit codes go by the error's `code`, not by instanceof): one-line errors, exit
// code 2 for bad usage (USAGE_ERROR_CODES), 1 for failures.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GanomalyError } from '@ganomaly-edge/runtime';
import { parseRanged, type NumericOption } from './option-ranges.js';

export class UsageError extends GanomalyError {
  override name = 'UsageError';
  readonly code = 'invalid_usage';
}

/** Error codes that mean bad usage: exit code 2. A number out of its range is one, and so is a model too big to build (train's widths and input size together). */
export const USAGE_ERROR_CODES: readonly unknown[] = ['invalid_usage', 'option_out_of_range', 'invalid_model_config'];

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

type OptionValues<O extends OptionSpec> = {
  [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string;
} & { help?: boolean };

/** Parses argv strictly; unknown options or missing values become a UsageError. */
export function parseCommandArgs<const O extends OptionSpec>(
  argv: string[],
  options: O,
  allowPositionals = true,
): { values: OptionValues<O>; positionals: string[] } {
  const all = { help: { type: 'boolean', short: 'h' }, ...options } as OptionSpec;
  try {
    const r = parseArgs({ args: joinNegativeNumbers(argv, all), options: all, allowPositionals, strict: true });
    return { values: r.values as OptionValues<O>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0] ?? String(e));
  }
}

/**
 * `--port -1` as `--port=-1`: parseArgs calls a value that starts with '-' ambiguous, which would
 * hide the real problem (a negative number) behind "argument is ambiguous". Only values that look
 * like numbers are joined, so `--model -x` is still refused as a missing value.
 */
function joinNegativeNumbers(argv: string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const long = /^--([^=]+)$/.exec(a)?.[1];
    const short = /^-([^-])$/.exec(a)?.[1];
    const name = long ?? (short === undefined ? undefined : Object.keys(options).find((k) => options[k]!.short === short));
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** The number `--<option.flag>` gives, checked against its range in the table (option-ranges.ts); undefined when absent. */
export function rangedOption(value: string | undefined, option: NumericOption): number | undefined {
  return value === undefined ? undefined : parseRanged(value, option);
}

/** A progress line on stderr that redraws in place on a TTY and prints sparsely otherwise. */
export function progressLine(label: string): { update(done: number, total: number, extra?: string): void; end(msg?: string): void } {
  const tty = process.stderr.isTTY;
  const start = Date.now();
  let lastPrint = 0;
  return {
    update(done, total, extra = '') {
      const now = Date.now();
      if (!tty && now - lastPrint < 5000 && done < total) return;
      lastPrint = now;
      const frac = total > 0 ? done / total : 1;
      const width = 24;
      const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
      const elapsed = (now - start) / 1000;
      const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
      const line = `${label} ${bar} ${done}/${total} ${Number.isFinite(eta) ? `ETA ${eta.toFixed(0)}s` : ''} ${extra}`;
      if (tty) process.stderr.write(`\r\x1b[2K${line}`);
      else process.stderr.write(`${line}\n`);
    },
    end(msg) {
      if (tty) process.stderr.write('\r\x1b[2K');
      if (msg) process.stderr.write(`${msg}\n`);
    },
  };
}

const PRECISION_NAMES = ['fp32', 'fp16', 'int8'] as const;
export type PrecisionName = (typeof PRECISION_NAMES)[number];

/** `--precision fp16` (one) for score/serve. */
export function precisionOption(value: string | undefined): PrecisionName | undefined {
  if (value === undefined) return undefined;
  const p = value.trim().toLowerCase();
  if (!(PRECISION_NAMES as readonly string[]).includes(p)) throw new UsageError(`--precision must be fp32, fp16 or int8; got '${value}'`);
  return p as PrecisionName;
}

/** `--precision fp32,fp16,int8` (a list, in the fixed order) for export/eval/quantize. */
export function precisionListOption(value: string | undefined, name = 'precision'): PrecisionName[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = items.filter((p) => !(PRECISION_NAMES as readonly string[]).includes(p));
  if (bad.length > 0 || items.length === 0) throw new UsageError(`--${name} takes a list of fp32, fp16, int8; got '${value}'`);
  return PRECISION_NAMES.filter((p) => items.includes(p));
}

/**
 * `--execution-providers cuda,cpu` (ONNX Runtime's name), or its deprecated alias (`--providers`
 * on score and serve, `--provider` on eval), which still works until the next minor version.
 * Both given with different lists is a UsageError.
 */
export function executionProvidersOption(current: string | undefined, deprecated: string | undefined, deprecatedName: string): string[] | undefined {
  const list = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    const names = value.split(',').map((p) => p.trim()).filter(Boolean);
    if (names.length === 0) throw new UsageError(`--${name} needs at least one provider name, e.g. --${name} cpu`);
    return names;
  };
  const a = list(current, 'execution-providers');
  const b = list(deprecated, deprecatedName);
  if (a && b && a.join(',') !== b.join(',')) {
    throw new UsageError(`--${deprecatedName} is the deprecated name of --execution-providers; give only --execution-providers (got '${current}' and '${deprecated}')`);
  }
  return a ?? b;
}

/**
 * A name (file path, model or tensor name) as it is safe to print in a terminal: control
 * characters (newlines, ANSI escapes, C1 controls) and bidirectional overrides are written as
 * \n, \t, \xHH or \uHHHH, so a crafted file name can neither forge table rows nor recolour or
 * reorder the output.
 */
export function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    if (named[c]) return named[c];
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Columns a printable() string takes: code points, not UTF-16 units (an emoji is one unit of padding, not two). */
export function displayWidth(s: string): number {
  return [...s].length;
}
