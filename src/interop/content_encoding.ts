/**
 * Request bodies that arrive compressed (`Content-Encoding: gzip` from Telegraf, and from any
 * line-protocol client that sets it): inflated with a cap on the output, so a small body that
 * expands to gigabytes (a "zip bomb") is refused at the cap instead of exhausting memory.
 * zlib stops at `maxOutputLength` itself, so the cap is never allocated past.
 */
import { gunzip, type InputType } from 'node:zlib';
import { promisify } from 'node:util';
import { HttpError } from '../http/route.js';

const gunzipAsync = promisify(gunzip) as (buf: InputType, options: { maxOutputLength: number }) => Promise<Buffer>;

/**
 * The body as sent, or inflated when `Content-Encoding` is gzip. HttpError 415 for another
 * encoding, 413 past `maxBytes` inflated, 400 for a corrupt gzip stream.
 */
export async function decodedBody(raw: Uint8Array, contentEncoding: string | undefined, maxBytes: number): Promise<Uint8Array> {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return raw;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new HttpError(415, `content-encoding ${JSON.stringify(contentEncoding)} is not supported; send gzip or none`, { error: `content-encoding ${JSON.stringify(contentEncoding)} is not supported; send gzip or none`, field: 'content-encoding' });
  }
  try {
    return await gunzipAsync(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new HttpError(413, `the gzip body inflates past ${maxBytes} bytes (interop max decompressed bytes); send smaller batches`);
    }
    throw new HttpError(400, `the body is not valid gzip: ${e.message}`, { error: `the body is not valid gzip: ${e.message}`, field: 'content-encoding' });
  }
}
