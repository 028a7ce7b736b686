/**
 * Response headers of the dashboard page and its assets.
 *
 * The Content-Security-Policy allows only this origin's own scripts, styles and connections:
 * no inline script or style attribute, no eval (`'wasm-unsafe-eval'` lets the page compile
 * the WASM kernels, nothing else), no frames of or around it, no plugins, forms posting only
 * here. `connect-src 'self'` covers the same-origin WebSocket in CSP level 3 browsers.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Headers common to every dashboard answer. */
const COMMON: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

export function pageHeaders(): Record<string, string> {
  return { ...COMMON, 'content-security-policy': DASHBOARD_CSP, 'x-frame-options': 'DENY', 'cache-control': 'no-cache' };
}

/** Hashed assets: their content never changes under a name. */
export function assetHeaders(): Record<string, string> {
  return { ...COMMON, 'cache-control': 'public, max-age=31536000, immutable' };
}
