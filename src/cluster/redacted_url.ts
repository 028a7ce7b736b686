/**
 * Where a lease or a live-update channel connects, fit for error messages and logs: the URL
 * with its password replaced by `***` (`postgres://emms:***@127.0.0.1:5433/emms`). Errors of
 * the cluster layer name their database this way so an operator sees which one failed without
 * the credential reaching a log.
 */

/** `url` with any password masked; a string that does not parse as a URL is not echoed at all. */
export function redactedUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparsable URL>';
  }
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}
