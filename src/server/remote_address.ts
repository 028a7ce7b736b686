/**
 * uWS reports client addresses as text in its own shapes: `127.0.0.1` on an IPv4 socket, but
 * eight zero-padded hex groups on a dual-stack one (`0000:…:ffff:7f00:0001` for an IPv4 client,
 * `0000:…:0001` for ::1). Blocklists and logs want one canonical form: dotted quad for IPv4 and
 * IPv4-mapped addresses, RFC 5952 compressed lower-case text for IPv6.
 *
 * This is the socket's address. Behind `security.trusted_proxies` the client is the address
 * they name (forwarded_for.ts, through AccessControl.clientAddress), in the same canonical form.
 */
export function canonicalRemoteAddress(raw: ArrayBuffer): string {
  const text = Buffer.from(raw).toString();
  const groups = text.split(':');
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return text;
  const words = groups.map((g) => parseInt(g, 16));
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `${words[6]! >> 8}.${words[6]! & 0xff}.${words[7]! >> 8}.${words[7]! & 0xff}`;
  }
  // Longest run of two or more zero words becomes `::` (first one on ties).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
