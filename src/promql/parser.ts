/**
 * Parses a PromQL expression into the syntax tree of ast.ts and type-checks it, following
 * Prometheus' `promql/parser/generated_parser.y`: operator precedence (`^` binds tightest and
 * to the right, unary minus like `*`, then `* / %`, `+ -`, comparisons, `and`/`unless`, `or`),
 * aggregation grouping before or after the arguments, and the same type rules (a comparison of
 * two scalars needs `bool`, rate() takes a range vector, …).
 *
 * Bounded: the expression's length and the depth of its nesting are limited, so a hostile
 * query cannot exhaust the stack. Valid PromQL outside the subset (subqueries, `@`, set
 * operators, group_left/right, unsupported functions) throws PromQLUnsupportedError.
 */
import {
  AGGREGATION_OPS, isComparison, typeOf,
  type AggregationOp, type BinaryOp, type Expr, type LabelMatcher, type MatchOp, type ValueType, type VectorMatching, type VectorSelector,
} from './ast.js';
import { PromQLSyntaxError, PromQLUnsupportedError } from './errors.js';
import { SUPPORTED_FUNCTIONS, UNSUPPORTED_AGGREGATIONS, UNSUPPORTED_FUNCTIONS } from './function_signatures.js';
import { compileMatcher } from './label_matcher.js';
import { durationMs, numberValue, tokenize, type Token } from './lexer.js';

/** Longest expression accepted, in characters (Grafana's generated queries stay far below). */
export const MAX_EXPRESSION_CHARS = 16_384;
/** Deepest nesting of sub-expressions accepted; each level is a few stack frames. */
export const MAX_NESTING_DEPTH = 64;

const BINARY_LEVELS: readonly (readonly string[])[] = [
  ['or'],
  ['and', 'unless'],
  ['==', '!=', '>', '<', '>=', '<='],
  ['+', '-'],
  ['*', '/', '%', 'atan2'],
];
const MATCH_OPS: ReadonlySet<string> = new Set(['=', '!=', '=~', '!~']);

class Parser {
  #tokens: Token[];
  #i = 0;
  #depth = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  get #peek(): Token {
    return this.#tokens[this.#i]!;
  }

  #next(): Token {
    const t = this.#tokens[this.#i]!;
    if (t.kind !== 'eof') this.#i++;
    return t;
  }

  #isOp(text: string): boolean {
    return this.#peek.kind === 'op' && this.#peek.text === text;
  }

  #isWord(word: string): boolean {
    return this.#peek.kind === 'ident' && this.#peek.text.toLowerCase() === word;
  }

  #expect(text: string, what: string): Token {
    const t = this.#next();
    if (t.kind !== 'op' || t.text !== text) throw new PromQLSyntaxError(`unexpected ${describe(t)} in ${what}, expected "${text}"`, t.pos);
    return t;
  }

  #enter(pos: number): void {
    if (++this.#depth > MAX_NESTING_DEPTH) throw new PromQLSyntaxError(`expression nests deeper than ${MAX_NESTING_DEPTH} levels`, pos);
  }

  parseTop(): Expr {
    const e = this.#binary(0);
    const t = this.#peek;
    if (t.kind !== 'eof') throw new PromQLSyntaxError(`unexpected ${describe(t)}`, t.pos);
    return e;
  }

  #binaryOpAt(level: number): string | undefined {
    const t = this.#peek;
    const ops = BINARY_LEVELS[level]!;
    if (t.kind === 'op' && ops.includes(t.text)) return t.text;
    if (t.kind === 'ident' && ops.includes(t.text.toLowerCase())) return t.text.toLowerCase();
    return undefined;
  }

  #binary(level: number): Expr {
    if (level === BINARY_LEVELS.length) return this.#unary();
    let lhs = this.#binary(level + 1);
    for (let op = this.#binaryOpAt(level); op !== undefined; op = this.#binaryOpAt(level)) {
      const opToken = this.#next();
      if (op === 'and' || op === 'or' || op === 'unless' || op === 'atan2') throw new PromQLUnsupportedError(`binary operator "${op}"`);
      const returnBool = this.#isWord('bool');
      if (returnBool) {
        this.#next();
        if (!isComparison(op as BinaryOp)) throw new PromQLSyntaxError('bool modifier can only be used on comparison operators', opToken.pos);
      }
      let matching: VectorMatching | undefined;
      if (this.#isWord('on') || this.#isWord('ignoring')) {
        const on = this.#next().text.toLowerCase() === 'on';
        matching = { on, labels: this.#labelList('vector matching') };
      }
      if (this.#isWord('group_left') || this.#isWord('group_right')) throw new PromQLUnsupportedError(`${this.#peek.text.toLowerCase()} (many-to-one matching)`);
      const rhs = this.#binary(level + 1);
      lhs = checkBinary({ kind: 'binary', op: op as BinaryOp, lhs, rhs, returnBool, matching }, opToken.pos);
    }
    return lhs;
  }

  #unary(): Expr {
    if (this.#isOp('-') || this.#isOp('+')) {
      const t = this.#next();
      this.#enter(t.pos);
      const expr = this.#unary();
      this.#depth--;
      const type = typeOf(expr);
      if (type !== 'scalar' && type !== 'vector') throw new PromQLSyntaxError(`unary expression only allowed on expressions of type scalar or instant vector, got "${typeName(type)}"`, t.pos);
      if (t.text === '+') return expr;
      if (expr.kind === 'number') return { kind: 'number', value: -expr.value };
      return { kind: 'unary', op: '-', expr };
    }
    return this.#power();
  }

  #power(): Expr {
    const lhs = this.#postfix();
    if (!this.#isOp('^')) return lhs;
    const opToken = this.#next();
    let matching: VectorMatching | undefined;
    const returnBool = false;
    if (this.#isWord('on') || this.#isWord('ignoring')) {
      const on = this.#next().text.toLowerCase() === 'on';
      matching = { on, labels: this.#labelList('vector matching') };
    }
    // Right-associative, and the right side may carry its own sign: 2 ^ -1, 2 ^ 3 ^ 2.
    const rhs = this.#unary();
    return checkBinary({ kind: 'binary', op: '^', lhs, rhs, returnBool, matching }, opToken.pos);
  }

  #postfix(): Expr {
    let e = this.#primary();
    for (;;) {
      if (this.#isOp('[')) {
        const open = this.#next();
        if (e.kind !== 'vector_selector' || e.offsetMs !== 0) throw new PromQLSyntaxError('ranges only allowed for vector selectors', open.pos);
        const range = this.#duration('range');
        if (this.#isOp(':')) throw new PromQLUnsupportedError('subqueries');
        this.#expect(']', 'range selector');
        if (range <= 0) throw new PromQLSyntaxError('range must be positive', open.pos);
        e = { kind: 'matrix_selector', selector: e, rangeMs: range };
      } else if (this.#isWord('offset')) {
        const t = this.#next();
        const negative = this.#isOp('-');
        if (negative) throw new PromQLUnsupportedError('negative offsets');
        const offset = this.#duration('offset');
        if (e.kind === 'vector_selector' && e.offsetMs === 0) e = { ...e, offsetMs: offset };
        else if (e.kind === 'matrix_selector' && e.selector.offsetMs === 0) e = { ...e, selector: { ...e.selector, offsetMs: offset } };
        else throw new PromQLSyntaxError('offset modifier must be preceded by an instant vector selector or range vector selector', t.pos);
      } else if (this.#isOp('@')) {
        throw new PromQLUnsupportedError('the @ modifier');
      } else {
        return e;
      }
    }
  }

  #duration(what: string): number {
    const t = this.#next();
    if (t.kind !== 'duration') throw new PromQLSyntaxError(`unexpected ${describe(t)} in ${what}, expected duration`, t.pos);
    return durationMs(t.text, t.pos);
  }

  #primary(): Expr {
    const t = this.#peek;
    if (t.kind === 'number') {
      this.#next();
      return { kind: 'number', value: numberValue(t.text) };
    }
    if (t.kind === 'string') {
      this.#next();
      return { kind: 'string', value: t.text };
    }
    if (t.kind === 'duration') throw new PromQLSyntaxError(`unexpected duration ${JSON.stringify(t.text)}`, t.pos);
    if (this.#isOp('(')) {
      this.#next();
      this.#enter(t.pos);
      const expr = this.#binary(0);
      this.#depth--;
      this.#expect(')', 'parenthesized expression');
      return { kind: 'paren', expr };
    }
    if (this.#isOp('{')) return this.#selector(undefined, t.pos);
    if (t.kind === 'ident') {
      this.#next();
      const lower = t.text.toLowerCase();
      if ((AGGREGATION_OPS as readonly string[]).includes(lower) && (this.#isOp('(') || this.#isWord('by') || this.#isWord('without'))) return this.#aggregate(lower as AggregationOp, t.pos);
      if (UNSUPPORTED_AGGREGATIONS.has(lower) && (this.#isOp('(') || this.#isWord('by') || this.#isWord('without'))) throw new PromQLUnsupportedError(`aggregation "${lower}"`);
      if (this.#isOp('(')) return this.#call(t);
      return this.#selector(t.text, t.pos);
    }
    throw new PromQLSyntaxError(`unexpected ${describe(t)}`, t.pos);
  }

  #call(name: Token): Expr {
    const signature = SUPPORTED_FUNCTIONS[name.text];
    if (signature === undefined) {
      if (UNSUPPORTED_FUNCTIONS.has(name.text)) throw new PromQLUnsupportedError(`function "${name.text}"`);
      throw new PromQLSyntaxError(`unknown function with name "${name.text}"`, name.pos);
    }
    this.#enter(name.pos);
    this.#expect('(', 'function call');
    const args: Expr[] = [];
    while (!this.#isOp(')')) {
      args.push(this.#binary(0));
      if (!this.#isOp(',')) break;
      this.#next();
    }
    this.#expect(')', 'function call');
    this.#depth--;
    const min = signature.args.length - signature.optional;
    if (args.length < min || args.length > signature.args.length) {
      throw new PromQLSyntaxError(`expected ${min === signature.args.length ? min : `${min} to ${signature.args.length}`} argument(s) in call to "${name.text}", got ${args.length}`, name.pos);
    }
    args.forEach((a, k) => expectType(a, signature.args[k]!, `call to function "${name.text}"`, name.pos));
    return { kind: 'call', func: name.text, args };
  }

  #aggregate(op: AggregationOp, pos: number): Expr {
    let grouping: string[] = [];
    let without = false;
    let grouped = false;
    if (this.#isWord('by') || this.#isWord('without')) {
      without = this.#next().text.toLowerCase() === 'without';
      grouping = this.#labelList('grouping');
      grouped = true;
    }
    this.#enter(pos);
    this.#expect('(', 'aggregation');
    let param: Expr | undefined;
    let expr = this.#binary(0);
    if (this.#isOp(',')) {
      this.#next();
      param = expr;
      expr = this.#binary(0);
    }
    this.#expect(')', 'aggregation');
    this.#depth--;
    if (!grouped && (this.#isWord('by') || this.#isWord('without'))) {
      without = this.#next().text.toLowerCase() === 'without';
      grouping = this.#labelList('grouping');
    }
    const needsParam = op === 'topk' || op === 'bottomk';
    if (needsParam && param === undefined) throw new PromQLSyntaxError(`wrong number of arguments for aggregate expression provided, expected 2, got 1`, pos);
    if (!needsParam && param !== undefined) throw new PromQLSyntaxError(`wrong number of arguments for aggregate expression provided, expected 1, got 2`, pos);
    if (param !== undefined) expectType(param, 'scalar', 'aggregation parameter', pos);
    expectType(expr, 'vector', 'aggregation expression', pos);
    return { kind: 'aggregate', op, expr, param, grouping, without };
  }

  #labelList(what: string): string[] {
    this.#expect('(', what);
    const labels: string[] = [];
    while (this.#peek.kind === 'ident') {
      labels.push(this.#next().text);
      if (!this.#isOp(',')) break;
      this.#next();
    }
    this.#expect(')', what);
    return labels;
  }

  #selector(name: string | undefined, pos: number): VectorSelector {
    const matchers: LabelMatcher[] = [];
    if (name !== undefined) matchers.push({ name: '__name__', op: '=', value: name });
    if (this.#isOp('{')) {
      this.#next();
      while (this.#peek.kind === 'ident') {
        const label = this.#next();
        const op = this.#next();
        if (op.kind !== 'op' || !MATCH_OPS.has(op.text)) throw new PromQLSyntaxError(`unexpected ${describe(op)} in label matching, expected label matching operator`, op.pos);
        const value = this.#next();
        if (value.kind !== 'string') throw new PromQLSyntaxError(`unexpected ${describe(value)} in label matching, expected string`, value.pos);
        if (label.text === '__name__' && name !== undefined) throw new PromQLSyntaxError(`metric name must not be set twice: "${name}" or "${value.text}"`, label.pos);
        matchers.push({ name: label.text, op: op.text as MatchOp, value: value.text });
        if (!this.#isOp(',')) break;
        this.#next();
      }
      this.#expect('}', 'label matching');
    }
    // Every matcher is compiled here, so a bad regex is a syntax error before any data is read.
    const matchesEmpty = matchers.map((m) => compileMatcher(m).matches(''));
    if (matchesEmpty.every(Boolean)) throw new PromQLSyntaxError('vector selector must contain at least one non-empty matcher', pos);
    return { kind: 'vector_selector', matchers, offsetMs: 0 };
  }
}

function typeName(t: ValueType): string {
  return t === 'vector' ? 'instant vector' : t === 'matrix' ? 'range vector' : t;
}

function expectType(e: Expr, want: ValueType, context: string, pos: number): void {
  const got = typeOf(e);
  if (got !== want) throw new PromQLSyntaxError(`expected type ${typeName(want)} in ${context}, got ${typeName(got)}`, pos);
}

function checkBinary(e: Extract<Expr, { kind: 'binary' }>, pos: number): Expr {
  const lt = typeOf(e.lhs);
  const rt = typeOf(e.rhs);
  if ((lt !== 'scalar' && lt !== 'vector') || (rt !== 'scalar' && rt !== 'vector')) {
    throw new PromQLSyntaxError('binary expression must contain only scalar and instant vector types', pos);
  }
  if (lt === 'scalar' && rt === 'scalar' && isComparison(e.op) && !e.returnBool) throw new PromQLSyntaxError('comparisons between scalars must use BOOL modifier', pos);
  if (e.matching !== undefined && (lt !== 'vector' || rt !== 'vector')) throw new PromQLSyntaxError('vector matching only allowed between instant vectors', pos);
  return e;
}

function describe(t: Token): string {
  if (t.kind === 'eof') return 'end of input';
  return `${t.kind} ${JSON.stringify(t.text)}`;
}

/** Parses and type-checks `source`; throws PromQLSyntaxError or PromQLUnsupportedError. */
export function parsePromQL(source: string): Expr {
  if (source.length > MAX_EXPRESSION_CHARS) throw new PromQLSyntaxError(`expression is ${source.length} characters, more than ${MAX_EXPRESSION_CHARS}`, 0);
  if (source.trim() === '') throw new PromQLSyntaxError('no expression found in input', 0);
  return new Parser(tokenize(source)).parseTop();
}
