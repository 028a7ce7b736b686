/**
 * Matches a request path against route patterns with `:name` segments. Static segments win
 * over parameters when both match (`/keys/stats` before `/keys/:id`), whatever the order
 * routes were added in.
 */
import type { HttpMethod } from '../http/route.js';

interface Compiled<T> {
  method: HttpMethod;
  pattern: string;
  segments: string[];
  /** Number of literal segments: more is more specific. */
  literals: number;
  /** Position in the order of `add` calls (matching order is by `literals`). */
  order: number;
  value: T;
}

export type RouteMatch<T> =
  | { kind: 'found'; value: T; pattern: string; params: Record<string, string> }
  | { kind: 'wrong_method'; allowed: HttpMethod[] }
  | { kind: 'none' };

function split(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

export class Router<T> {
  readonly #routes: Compiled<T>[] = [];

  add(method: HttpMethod, pattern: string, value: T): void {
    const segments = split(pattern);
    for (const r of this.#routes) {
      if (r.method === method && r.pattern === pattern) throw new Error(`route ${method} ${pattern} is defined twice`);
    }
    this.#routes.push({ method, pattern, segments, literals: segments.filter((s) => !s.startsWith(':')).length, order: this.#routes.length, value });
    this.#routes.sort((a, b) => b.literals - a.literals);
  }

  /**
   * Every route's value, in the order added: the route table the OpenAPI document
   * (src/http/openapi.ts) is generated from, so it lists exactly what the router serves.
   */
  values(): T[] {
    return [...this.#routes].sort((a, b) => a.order - b.order).map((r) => r.value);
  }

  match(method: string, path: string): RouteMatch<T> {
    const parts = split(path);
    const allowed: HttpMethod[] = [];
    for (const r of this.#routes) {
      const params = matchSegments(r.segments, parts);
      if (params === undefined) continue;
      if (r.method !== method) {
        if (!allowed.includes(r.method)) allowed.push(r.method);
        continue;
      }
      return { kind: 'found', value: r.value, pattern: r.pattern, params };
    }
    return allowed.length > 0 ? { kind: 'wrong_method', allowed } : { kind: 'none' };
  }
}

function matchSegments(segments: string[], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const part = parts[i]!;
    if (seg.startsWith(':')) {
      try {
        params[seg.slice(1)] = decodeURIComponent(part);
      } catch {
        return undefined;
      }
    } else if (seg !== part) {
      return undefined;
    }
  }
  return params;
}
