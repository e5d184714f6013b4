// `ganomaly-gateway watch`: cameras in, anomaly events out (issue 19). Its parts (sources, sampler,
// events, sinks) are built under ../watch/ in parallel with this package; until they are wired in,
// the command parses its options and says, in one line, that it is not in this build, so scripts
// and the toolkit's `ganomaly watch` fail loudly rather than doing nothing.
// INTEGRATION POINT: runWatch below is the one function the integrator replaces.
import { GanomalyError } from '@ganomaly-edge/runtime/node';
import { parseCommandArgs } from '../../cli-args.js';

export class NotAvailableError extends GanomalyError {
  override name = 'NotAvailableError';
  readonly code = 'not_available';
}

export const watchHelp = (prog: string) => `Usage: ${prog} watch --config <gateway.yaml>
       ${prog} watch --source <url|file|dir> --model <model dir> [--fps <n>]

Watches cameras (rtsp://, http(s):// MJPEG/HLS, /dev/video*, video files, image folders),
scores their frames with a prebuilt model and publishes anomaly events (JSON lines, webhook, MQTT).
Decoding is done by the system ffmpeg.

Options:
  --config <file>         gateway YAML file: many cameras, models and sinks
  --source <url|path>     one camera, without a config file
  --model <dir>           model folder (manifest.json + detector.onnx) for --source
  --fps <n>               frames sampled per second, 0.1-60 (default 5)
  -h, --help              show this help`;

/** Placeholder: parses watch's options, answers --help, and otherwise fails with NotAvailableError. */
export async function runWatch(argv: string[], prog = 'ganomaly-gateway'): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { config: { type: 'string' }, source: { type: 'string' }, model: { type: 'string' }, fps: { type: 'string' } },
    false,
  );
  if (values.help) {
    console.log(watchHelp(prog));
    return 0;
  }
  throw new NotAvailableError('watch is not available yet in this build');
}
