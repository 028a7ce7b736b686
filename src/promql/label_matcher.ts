/**
 * Label matchers compiled for evaluation. Regex matchers run on the linear-time engine of
 * src/text/linear_regex.ts (RE2 syntax, the same as Prometheus' Go regexp) and are fully
 * anchored as Prometheus anchors them (`^(?:re)$`): `=~"cpu"` does not match `cpu_total`.
 * A missing label has the value "" for matching, as in Prometheus.
 */
import { LinearRegex, RegexError } from '../text/linear_regex.js';
import type { LabelMatcher } from './ast.js';
import { PromQLSyntaxError } from './errors.js';

export interface CompiledMatcher {
  readonly name: string;
  matches(value: string): boolean;
}

function compileRegex(source: string): (value: string) => boolean {
  if (source === '') return (v) => v === '';
  try {
    const re = LinearRegex.compile(source);
    return (v) => re.matches(v);
  } catch (err) {
    if (err instanceof RegexError) throw new PromQLSyntaxError(`invalid regular expression: ${err.message}`, 0);
    throw err;
  }
}

export function compileMatcher(m: LabelMatcher): CompiledMatcher {
  switch (m.op) {
    case '=': return { name: m.name, matches: (v) => v === m.value };
    case '!=': return { name: m.name, matches: (v) => v !== m.value };
    case '=~': {
      const re = compileRegex(m.value);
      return { name: m.name, matches: re };
    }
    case '!~': {
      const re = compileRegex(m.value);
      return { name: m.name, matches: (v) => !re(v) };
    }
  }
}

/** True when every matcher accepts the labels (a missing label counts as ""). */
export function matchesAll(matchers: readonly CompiledMatcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) if (!m.matches(labels[m.name] ?? '')) return false;
  return true;
}
