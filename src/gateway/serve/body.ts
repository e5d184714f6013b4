// Request bodies: bounded in size and time, media types parsed, multipart/form-data split into
// parts. A body over the limit is refused as soon as that is known (from Content-Length, or when
// the running count passes it) and the rest is never read.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

export interface BodyLimits {
  /** Most bytes accepted. */
  maxBytes: number;
  /** Most milliseconds from the first to the last byte of the body. */
  timeoutMs: number;
}

export interface MediaType {
  /** Lower-case `type/subtype`, '' when the header is missing. */
  type: string;
  params: Record<string, string>;
}

/** Parses a Content-Type value: `multipart/form-data; boundary="abc"` → type + params. */
export function parseMediaType(header: string | undefined): MediaType {
  if (!header) return { type: '', params: {} };
  const semi = header.indexOf(';');
  const params: Record<string, string> = {};
  // Quoted values may contain ';' (file names), so parameters are matched, not split.
  const re = /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  for (const m of (semi < 0 ? '' : header.slice(semi)).matchAll(re)) {
    const raw = m[2]!.trim();
    params[m[1]!.toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  return { type: (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase(), params };
}

function tooLarge(limit: number, what: string): HttpError {
  return new HttpError(413, 'body_too_large', `${what} exceeds the limit of ${limit} bytes (server option --max-body)`, {}, true);
}

/** Throws 413 before any byte is read when the declared Content-Length is over the limit. */
export function checkDeclaredLength(req: IncomingMessage, maxBytes: number): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes, `Content-Length ${declared}`);
}

/**
 * Reads the whole body. Rejects with 413 when it passes maxBytes, 408 when it has not arrived
 * within timeoutMs, 400 when the client goes away. Afterwards the request stream is left paused.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  checkDeclaredLength(req, limits.maxBytes);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (e: HttpError | null) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('aborted', onAborted).off('error', onAborted);
      if (e) {
        req.pause();
        reject(e);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limits.maxBytes) finish(tooLarge(limits.maxBytes, 'request body'));
      else chunks.push(c);
    };
    const onEnd = () => finish(null);
    const onAborted = () => finish(new HttpError(400, 'client_aborted', 'the client closed the connection before the body was complete'));
    const timer = setTimeout(
      () => finish(new HttpError(408, 'body_timeout', `request body not received within ${limits.timeoutMs} ms`, {}, true)),
      limits.timeoutMs,
    );
    req.on('data', onData).on('end', onEnd).on('aborted', onAborted).on('error', onAborted);
  });
}

export interface Part {
  /** The form field name (Content-Disposition name). */
  name?: string;
  filename?: string;
  /** Lower-cased part headers. */
  headers: Record<string, string>;
  contentType: MediaType;
  data: Buffer;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

function badMultipart(why: string): HttpError {
  return new HttpError(400, 'bad_multipart', `malformed multipart/form-data body: ${why}`);
}

/** Splits a multipart/form-data body (RFC 7578) into parts; at most `maxParts`. */
export function parseMultipart(body: Buffer, boundary: string | undefined, maxParts: number): Part[] {
  if (!boundary || boundary.length > 200) throw badMultipart('Content-Type needs a boundary parameter (1-200 characters)');
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  if (pos < 0 || (pos > 0 && !body.subarray(pos - 2, pos).equals(CRLF))) throw badMultipart('no opening boundary');
  const parts: Part[] = [];
  const next = Buffer.concat([CRLF, delim]);
  for (;;) {
    pos += delim.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // "--": closing boundary
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (!body.subarray(pos, pos + 2).equals(CRLF)) throw badMultipart('boundary not followed by CRLF');
    pos += 2;
    const headEnd = body.indexOf(HEADER_END, pos);
    const end = body.indexOf(next, pos);
    if (end < 0) throw badMultipart('missing closing boundary');
    if (parts.length === maxParts) {
      throw new HttpError(413, 'too_many_parts', `a batch may hold at most ${maxParts} images (server option --max-queue)`);
    }
    const headers: Record<string, string> = {};
    let dataStart = pos;
    if (body.subarray(pos, pos + 2).equals(CRLF)) dataStart = pos + 2; // no headers at all
    else {
      if (headEnd < 0 || headEnd > end) throw badMultipart(`part ${parts.length} has no blank line after its headers`);
      for (const line of body.subarray(pos, headEnd).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) throw badMultipart(`bad header line in part ${parts.length}: '${line.slice(0, 80)}'`);
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      dataStart = headEnd + 4;
    }
    const disp = parseMediaType(headers['content-disposition']);
    parts.push({
      name: disp.params.name,
      filename: disp.params.filename,
      headers,
      contentType: parseMediaType(headers['content-type']),
      data: body.subarray(dataStart, end),
    });
    pos = end + 2;
  }
  return parts;
}
