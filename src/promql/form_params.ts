/**
 * The parameters of a Prometheus API request, from the query string and, for a form POST,
 * the `application/x-www-form-urlencoded` body, merged as Go's `r.FormValue` merges them (body
 * values first). Grafana POSTs its queries this way to keep long expressions out of URLs.
 */
import type { HttpRequest } from '../http/route.js';
import { BadDataError } from './api_values.js';

/** Largest form body read; an expression is at most MAX_EXPRESSION_CHARS, plus a few parameters. */
export const MAX_FORM_BYTES = 256 * 1024;

export class ApiParams {
  constructor(readonly form: URLSearchParams) {}

  get(name: string): string | undefined {
    return this.form.get(name) ?? undefined;
  }

  getAll(name: string): string[] {
    return this.form.getAll(name);
  }
}

export function apiParams(req: HttpRequest): ApiParams {
  const merged = new URLSearchParams();
  const body = req.rawBody;
  if (req.method === 'POST' && body !== undefined && body.length > 0) {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      throw new BadDataError(`unsupported Content-Type "${type}"; send application/x-www-form-urlencoded`);
    }
    if (body.length > MAX_FORM_BYTES) throw new BadDataError(`form body of ${body.length} bytes is larger than ${MAX_FORM_BYTES}`);
    for (const [k, v] of new URLSearchParams(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'))) merged.append(k, v);
  }
  for (const [k, v] of req.query) merged.append(k, v);
  return new ApiParams(merged);
}
