// CLI plumbing shared by the toolkit's `ganomaly` and the gateway's `ganomaly-gateway` (each bundles
// its own copy, so exit codes go by the error's `code`, not by instanceof): one-line errors, exit
// code 2 for bad usage, 1 for failures.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GanomalyError } from '@ganomaly-edge/runtime';

export class UsageError extends GanomalyError {
  override name = 'UsageError';
  readonly code = 'invalid_usage';
}

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
  try {
    const r = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals, strict: true });
    return { values: r.values as OptionValues<O>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0] ?? String(e));
  }
}

export function intOption(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  // Decimal digits only: Number() would read '0x10' as 16 and '1e3' as 1000.
  const n = /^\s*\+?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min} (decimal digits); got '${value}'`);
  return n;
}

export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number; got '${value}'`);
  return n;
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

/** Parses sizes such as `10mb`, `512kb`, `1.5MiB`, `2048` (bytes). Units are powers of 1024. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`not a size: '${text}' (use e.g. 10mb, 512kb or a byte count)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0]!;
  const scale = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]!;
  const n = Math.floor(Number(m[1]) * scale);
  if (n < 1) throw new RangeError(`size must be at least 1 byte; got '${text}'`);
  return n;
}
