/**
 * Reads an algorithm name as registered (`AES-256-GCM`, `RSA-2048`, `ECDSA-P384`, `HMAC-SHA1`,
 * `3DES`, or a backend's own spelling such as Vault's `aes256-gcm96` or AWS KMS's
 * `ECC_NIST_P256`) into a family and a size, so policies can say "RSA at least 2048 bits"
 * without listing every spelling. Unrecognised names come back as family `UNKNOWN`.
 */

export interface AlgorithmStrength {
  /** `AES`, `RSA`, `ECDSA`, `EDDSA`, `HMAC`, `3DES`, `DES`, `RC4`, `CHACHA20`, `UNKNOWN`. */
  family: string;
  /** Key size in bits (AES, RSA, ECDSA curve, 3DES effective 112/168) when the name says it. */
  bits: number | null;
  /** Hash of an HMAC (`SHA1`, `SHA256`, `MD5` …) when the name says it. */
  hash: string | null;
  /** Block-cipher mode when the name says it (`GCM`, `CBC`, `CTR` …). */
  mode: string | null;
}

/** Upper case without separators, so `aes256-gcm96`, `AES_256_GCM` and `AES-256-GCM` compare equal. */
export function compactAlgorithmName(name: string): string {
  return name.toUpperCase().replace(/[-_/. ]/g, '');
}

const MODES = ['GCM', 'CBC', 'CTR', 'CCM', 'ECB', 'XTS', 'SIV', 'OFB', 'CFB'];

export function algorithmStrength(name: string): AlgorithmStrength {
  const c = compactAlgorithmName(name);
  const mode = MODES.find((m) => c.includes(m)) ?? null;
  let m: RegExpMatchArray | null;
  if (/^(3DES|TDES|TRIPLEDES|DESEDE|DES3)/.test(c)) return { family: '3DES', bits: 112, hash: null, mode };
  if (/^DES/.test(c)) return { family: 'DES', bits: 56, hash: null, mode };
  if ((m = c.match(/^AES(128|192|256)/)) !== null) return { family: 'AES', bits: Number(m[1]), hash: null, mode };
  if (/^AES/.test(c) || c === 'SYMMETRICDEFAULT') return { family: 'AES', bits: c === 'SYMMETRICDEFAULT' ? 256 : null, hash: null, mode: c === 'SYMMETRICDEFAULT' ? 'GCM' : mode };
  if ((m = c.match(/^RSA(\d{3,5})/)) !== null) return { family: 'RSA', bits: Number(m[1]), hash: null, mode };
  if (/^RSA/.test(c)) return { family: 'RSA', bits: null, hash: null, mode };
  if ((m = c.match(/^(?:ECDSA|ECCNIST|EC|ECDH)P?(256|384|521)/)) !== null) return { family: 'ECDSA', bits: Number(m[1]), hash: null, mode };
  if (/^ECCSECGP256K1/.test(c)) return { family: 'ECDSA', bits: 256, hash: null, mode };
  if (/^ECDSA/.test(c)) return { family: 'ECDSA', bits: null, hash: null, mode };
  if (/^ED25519/.test(c)) return { family: 'EDDSA', bits: 256, hash: null, mode };
  if (/^ED448/.test(c)) return { family: 'EDDSA', bits: 448, hash: null, mode };
  if ((m = c.match(/^HMAC(?:SHA)?(1|224|256|384|512|MD5)?$/)) !== null || (m = c.match(/^HMACSHA(\d+)/)) !== null) {
    const h = m[1];
    return { family: 'HMAC', bits: null, hash: h === undefined ? null : h === 'MD5' ? 'MD5' : `SHA${h}`, mode };
  }
  if (/^RC4/.test(c)) return { family: 'RC4', bits: null, hash: null, mode };
  if (/^CHACHA20/.test(c)) return { family: 'CHACHA20', bits: 256, hash: null, mode };
  return { family: 'UNKNOWN', bits: null, hash: null, mode };
}
