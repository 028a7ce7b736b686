/**
 * Loads uWebSockets.js's native binding, refusing its pure-JS fallback. The package
 * (node_modules/uWebSockets.js/src/uws.js) silently falls back to a `ws`-based implementation
 * when no binary matches the running Node; that one is an order of magnitude slower and has
 * different backpressure behaviour, so the server would quietly miss every target.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as uws from 'uWebSockets.js';

export type Uws = typeof uws;

const require = createRequire(import.meta.url);
let loaded: Uws | undefined;

export class NativeUwsUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeUwsUnavailableError';
  }
}

export function nativeBindingName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

export function loadNativeUws(): Uws {
  if (loaded !== undefined) return loaded;
  const binary = nativeBindingName();
  const fallbackFlag = process.env.UWS_USE_FALLBACK;
  if (fallbackFlag !== undefined && /^(1|true)$/i.test(fallbackFlag)) {
    throw new NativeUwsUnavailableError(
      `UWS_USE_FALLBACK=${fallbackFlag} asks uWebSockets.js for its pure-JS fallback; EMMS refuses to run on it (too slow, different backpressure). Unset UWS_USE_FALLBACK.`,
    );
  }
  const packageDir = dirname(require.resolve('uWebSockets.js/package.json'));
  let native: Uws;
  try {
    native = require(join(packageDir, 'binaries', binary)) as Uws;
  } catch (err) {
    throw new NativeUwsUnavailableError(
      `uWebSockets.js has no working native binding for this platform and Node.js ` +
        `(${process.platform}-${process.arch}, Node ${process.version}, ABI ${process.versions.modules}; looked for binaries/${binary}: ` +
        `${(err as Error).message.split('\n')[0]}). Its pure-JS fallback is refused because it is far too slow; ` +
        `run a Node.js version the package ships a binary for (ABI 93, 108 or 115: Node 16, 18 or 20).`,
      { cause: err },
    );
  }
  // The package entry must resolve to the very same native module object; anything else means
  // it chose its fallback for a reason of its own.
  const viaPackage = require('uWebSockets.js') as Uws;
  if (viaPackage !== native) {
    throw new NativeUwsUnavailableError('uWebSockets.js loaded its pure-JS fallback instead of the native binding; refusing to start.');
  }
  loaded = native;
  return native;
}
