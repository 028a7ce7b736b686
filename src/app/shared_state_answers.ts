/**
 * On a cluster node, the answer to a state change (an API key created, a rule changed, an alert
 * acknowledged, key events recorded …) is sent only once the change is in the cluster's shared
 * state log, not merely in the node's own SQLite file: a node SIGKILLed right after answering
 * loses nothing the node that takes over would miss (src/storage/state_replication/).
 *
 * One wrapper around every route handler of a mutating method (and around stream frame
 * handlers), rather than a change to each route: it takes the outbox mark before and after
 * the handler; when the handler changed nothing replicated (a query by POST, points, a refused
 * request) the marks are equal and the answer goes out at once. Otherwise it waits, at most
 * SHARE_TIMEOUT_MS, for the upload of everything up to the second mark (other changes that
 * landed meanwhile included; the uploader sends them in the same round trip).
 *
 * When the log does not take the change in time (unreachable, slow) the answer is 503 with
 * `committed_locally: true`, the error naming the log (password redacted), and the handler's
 * own answer under `answer` (a created key's token is there: the key exists on this node and
 * reaches the cluster when the log is back, so repeating the request would create a second
 * one). Such a change is lost for the cluster only if this node's data directory is lost
 * before the log answers again.
 *
 * A handler that throws is answered with its error at once: the client was told it failed.
 * Single-node SQLite storage has no replicator and gets none of this (emms_app.ts).
 */
import { HttpError, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { StateNotSharedError, type StateReplicator } from '../storage/state_replication/state_replicator.js';

/** Longest an answer waits for its change to reach the shared log. */
export const SHARE_TIMEOUT_MS = 5_000;

type Replication = Pick<StateReplicator, 'changeMark' | 'shared'>;

const changed = (before: readonly number[], after: readonly number[]): boolean => after.some((seq, i) => seq !== before[i]);

/** The routes as given, every non-GET handler answering only once its change is shared. */
export function answerOnceShared(routes: readonly RouteDefinition[], state: Replication, timeoutMs = SHARE_TIMEOUT_MS): RouteDefinition[] {
  return routes.map((route) => {
    if (route.method === 'GET') return route;
    const handler = route.handler;
    return {
      ...route,
      handler: async (req: HttpRequest): Promise<HttpResponseSpec> => {
        const before = state.changeMark();
        const answer = await handler(req);
        const after = state.changeMark();
        if (!changed(before, after)) return answer;
        try {
          await state.shared(after, timeoutMs);
          return answer;
        } catch (err) {
          if (err instanceof StateNotSharedError) return notShared(answer, err);
          throw err;
        }
      },
    };
  });
}

/**
 * A stream frame handler (key events over the WebSocket) acknowledging only once its change is
 * shared; otherwise the frame is refused with the same explanation as the HTTP 503.
 */
export function frameOnceShared<A extends unknown[], R>(handler: (...args: A) => Promise<R>, state: Replication, timeoutMs = SHARE_TIMEOUT_MS): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const before = state.changeMark();
    const result = await handler(...args);
    const after = state.changeMark();
    if (!changed(before, after)) return result;
    try {
      await state.shared(after, timeoutMs);
    } catch (err) {
      if (err instanceof StateNotSharedError) throw new HttpError(503, `${err.message}: do not send the frame again`);
      throw err;
    }
    return result;
  };
}

function notShared(answer: HttpResponseSpec, err: StateNotSharedError): HttpResponseSpec {
  // Only a JSON answer can be carried inside the JSON 503; others keep their status only.
  const status = answer.status ?? 200;
  const carried = answer.contentType === undefined ? { status, body: answer.body ?? null } : { status };
  return {
    ...(answer.auditPrincipal === undefined ? {} : { auditPrincipal: answer.auditPrincipal }),
    // The handler's headers go with its answer (a created key's `cache-control: no-store`).
    ...(answer.headers === undefined ? {} : { headers: answer.headers }),
    status: 503,
    body: {
      error: `${err.message}: do not repeat the request`,
      committed_locally: true,
      answer: carried,
    },
  };
}
