/**
 * "Did you mean" hints for unknown parameter and field names: the known name closest to what
 * the client sent, so `metricId` suggests `metric_id` and `expiring_within` suggests
 * `expires_within`. Names are compared after folding case and separators (`-`, `_`, `.`),
 * then by edit distance, bounded so a long hostile name costs little.
 */

/** Names longer than this are not compared (no real parameter name is that long). */
const MAX_NAME_LENGTH = 64;

function fold(name: string): string {
  return name.toLowerCase().replace(/[-_.\s]/g, '');
}

/** Levenshtein distance of two short strings (both at most MAX_NAME_LENGTH characters). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known name `name` most likely meant, or undefined when none is close: equal once case
 * and separators are folded, or within an edit distance of a third of the name's length
 * (at least 1, at most 3), or one holding the other as a prefix (`horizon_hours` → `horizon`).
 */
export function didYouMean(name: string, known: Iterable<string>): string | undefined {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return undefined;
  const folded = fold(name);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    if (candidate.length > MAX_NAME_LENGTH) continue;
    const c = fold(candidate);
    if (c === folded) return candidate;
    const limit = Math.min(3, Math.max(1, Math.floor(Math.max(folded.length, c.length) / 3)));
    let score = editDistance(folded, c);
    if (score > limit && c.length >= 3 && (folded.startsWith(c) || c.startsWith(folded))) score = limit;
    if (score <= limit && score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}
