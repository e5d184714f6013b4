// Structured logs: one JSON object per line, so log shippers need no parsing rules. Request
// lines carry sizes and timings only, never image bytes or decoded pixels.

export type LogEntry = Record<string, unknown> & { msg: string };
export type LogSink = (entry: LogEntry) => void;

/** Writes each entry as one line of JSON, stamped with an ISO time and a level. */
export function jsonLines(stream: { write(chunk: string): unknown }): LogSink {
  return (entry) => {
    const line = { time: new Date().toISOString(), level: 'info', ...entry };
    stream.write(`${JSON.stringify(line)}\n`);
  };
}

export const silentLog: LogSink = () => undefined;
