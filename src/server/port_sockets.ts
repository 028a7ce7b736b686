/**
 * Sockets other than listeners that hold a local TCP port, read from /proc/net/tcp and
 * /proc/net/tcp6 (Linux). The uWebSockets.js build in use binds its listen socket with neither
 * SO_REUSEADDR nor SO_REUSEPORT, so a new listener on the port fails while any connection
 * accepted on it is open or in TIME_WAIT; server.reloadTls() checks this before it gives up a
 * listener it could not get back.
 */
import { readFileSync } from 'node:fs';

const TCP_LISTEN = '0A';

/** Non-listening sockets bound to local port `port`; undefined when /proc cannot be read. */
export function nonListeningSocketsOnPort(port: number): number | undefined {
  let count = 0;
  let read = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    read = true;
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const fields = lines[i]!.trim().split(/\s+/);
      if (fields.length < 4) continue;
      const local = fields[1]!;
      const localPort = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (localPort === port && fields[3] !== TCP_LISTEN) count++;
    }
  }
  return read ? count : undefined;
}
