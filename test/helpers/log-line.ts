// The first JSON log line with a given `msg` that a child process writes (serve's "listening",
// watch's "watching"), or a rejection with what it printed if it exits first.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

export function logLine<T>(child: ChildProcess, stream: Readable, msg: string, printed: () => string = () => ''): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let out = '';
    stream.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes(`"msg":${JSON.stringify(msg)}`));
      if (line) resolve(JSON.parse(line) as T);
    });
    child.once('exit', (code) => reject(new Error(`the process exited (${code}) before logging '${msg}': ${printed() || out}`)));
  });
}
