/**
 * TLS for uWebSockets.js' SSLApp: the certificate, key and passphrase files of `security.tls`,
 * checked before uWS sees them, and the protocol versions.
 *
 * Versions: this uWS build (BoringSSL inside) takes no minimum-version option, and refuses
 * TLS 1.1 and older on its own. TLS 1.3 only (the default) is obtained through the cipher list,
 * which in BoringSSL governs TLS 1.2 and older only (TLS 1.3 suites are fixed): it is set to
 * a single pre-shared-key suite, which the server can never select because it has no PSK
 * configured, so every TLS 1.2 handshake fails with handshake_failure while TLS 1.3 is
 * untouched (checked with `openssl s_client -tls1_2` / `-tls1_3` in
 * tests/integration/server_tls.test.ts). `min_version: "1.2"` lists the ECDHE AEAD suites
 * instead.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AppOptions } from 'uWebSockets.js';
import type { TlsSettings } from '../config/security_config.js';

/** A TLS 1.2 suite that needs a pre-shared key the server never has: TLS 1.2 cannot be negotiated. */
const NO_TLS12_CIPHERS = 'PSK-AES128-CBC-SHA';
/** Forward-secret AEAD suites only, for `min_version: "1.2"`. */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export class TlsFilesError extends Error {
  constructor(readonly file: string, message: string) {
    super(message);
    this.name = 'TlsFilesError';
  }
}

export interface TlsMaterial {
  appOptions: AppOptions;
  /** Certificate subject and validity, for the log line (never key material). */
  summary: string;
}

function readText(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TlsFilesError(file, `${setting}=${JSON.stringify(file)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Reads and checks the files (the certificate parses, the key opens with the passphrase and
 * belongs to the certificate) and returns the SSLApp options. Errors name the setting and the
 * file, never their contents.
 */
export function loadTls(settings: TlsSettings): TlsMaterial {
  const certPem = readText('security.tls.cert_file', settings.certFile);
  const keyPem = readText('security.tls.key_file', settings.keyFile);
  const passphrase = settings.passphraseFile === undefined
    ? undefined
    // A trailing newline is how editors save the file, not part of the passphrase.
    : readText('security.tls.passphrase_file', settings.passphraseFile).replace(/\r?\n$/, '');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new TlsFilesError(settings.certFile, `security.tls.cert_file=${JSON.stringify(settings.certFile)} holds no PEM certificate`);
  }
  let key;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: keyPem } : { key: keyPem, passphrase });
  } catch {
    throw new TlsFilesError(settings.keyFile, `security.tls.key_file=${JSON.stringify(settings.keyFile)} holds no PEM private key that opens${passphrase === undefined ? ' without a passphrase (set security.tls.passphrase_file)' : ' with the passphrase of security.tls.passphrase_file'}`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new TlsFilesError(settings.keyFile, `security.tls.key_file=${JSON.stringify(settings.keyFile)} is not the key of the certificate in security.tls.cert_file=${JSON.stringify(settings.certFile)}`);
  }
  return {
    appOptions: {
      cert_file_name: settings.certFile,
      key_file_name: settings.keyFile,
      ...(passphrase === undefined ? {} : { passphrase }),
      ssl_ciphers: settings.minVersion === '1.3' ? NO_TLS12_CIPHERS : TLS12_CIPHERS,
    },
    summary: `certificate ${cert.subject.replace(/\n/g, ', ')} valid until ${cert.validTo}, TLS ${settings.minVersion === '1.3' ? '1.3' : '1.2 and 1.3'}`,
  };
}
