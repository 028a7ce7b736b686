/**
 * The network front end for embedding and tests: `createServer({ engine, config })` serves an
 * already started MetricsSystem over HTTP and the MessagePack WebSocket stream.
 */
export { createServer, errorToResponse } from './server.js';
export type { EmmsServer, FrameContext, FrameHandler, ServerOptions } from './server.js';
export { NativeUwsUnavailableError, loadNativeUws } from './native_uws.js';
export { SelfMetrics } from './self_metrics.js';
