/**
 * The network front end for embedding and tests: `createServer({ engine, config, authenticator, quotas })` serves an
 * already started MetricsSystem over HTTP and the MessagePack WebSocket stream.
 */
export { createServer, errorToResponse } from './server.js';
export type { EmmsServer, FrameContext, FrameHandler, ServerOptions, TlsReloadResult } from './server.js';
export { TlsFilesError } from './tls.js';
export { NativeUwsUnavailableError, loadNativeUws } from './native_uws.js';
export { SelfMetrics } from './self_metrics.js';
