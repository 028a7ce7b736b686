/**
 * The PromQL syntax tree the parser builds and the evaluator walks, for the subset EMMS
 * evaluates (docs/promql.md). Shapes follow Prometheus' `promql/parser/ast.go` so its
 * semantics carry over node by node; durations are integer milliseconds.
 */

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly name: string;
  readonly op: MatchOp;
  readonly value: string;
}

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^';
export type ComparisonOp = '==' | '!=' | '>' | '<' | '>=' | '<=';
export type BinaryOp = ArithmeticOp | ComparisonOp;

export const AGGREGATION_OPS = ['sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk'] as const;
export type AggregationOp = (typeof AGGREGATION_OPS)[number];

export interface NumberLiteral {
  readonly kind: 'number';
  readonly value: number;
}

export interface StringLiteral {
  readonly kind: 'string';
  readonly value: string;
}

export interface VectorSelector {
  readonly kind: 'vector_selector';
  /** Every matcher, the metric name included as a `__name__` matcher. */
  readonly matchers: readonly LabelMatcher[];
  readonly offsetMs: number;
}

export interface MatrixSelector {
  readonly kind: 'matrix_selector';
  readonly selector: VectorSelector;
  readonly rangeMs: number;
}

export interface Call {
  readonly kind: 'call';
  readonly func: string;
  readonly args: readonly Expr[];
}

export interface Aggregate {
  readonly kind: 'aggregate';
  readonly op: AggregationOp;
  readonly expr: Expr;
  /** The `k` of topk/bottomk. */
  readonly param: Expr | undefined;
  readonly grouping: readonly string[];
  /** True for `without (…)`. */
  readonly without: boolean;
}

/** How the two sides of a vector-vector operation pair up: `on (…)` or `ignoring (…)`. */
export interface VectorMatching {
  readonly on: boolean;
  readonly labels: readonly string[];
}

export interface Binary {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly lhs: Expr;
  readonly rhs: Expr;
  /** `bool` modifier of a comparison. */
  readonly returnBool: boolean;
  readonly matching: VectorMatching | undefined;
}

export interface Unary {
  readonly kind: 'unary';
  readonly op: '-' | '+';
  readonly expr: Expr;
}

export interface Paren {
  readonly kind: 'paren';
  readonly expr: Expr;
}

export type Expr = NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | Call | Aggregate | Binary | Unary | Paren;

export function isComparison(op: BinaryOp): op is ComparisonOp {
  return op === '==' || op === '!=' || op === '>' || op === '<' || op === '>=' || op === '<=';
}

/** The type an expression evaluates to (Prometheus `Expr.Type()`). */
export function typeOf(e: Expr): ValueType {
  switch (e.kind) {
    case 'number': return 'scalar';
    case 'string': return 'string';
    case 'vector_selector': return 'vector';
    case 'matrix_selector': return 'matrix';
    case 'aggregate': return 'vector';
    case 'call': return e.func === 'time' ? 'scalar' : 'vector';
    case 'binary': return typeOf(e.lhs) === 'scalar' && typeOf(e.rhs) === 'scalar' ? 'scalar' : 'vector';
    case 'unary': return typeOf(e.expr);
    case 'paren': return typeOf(e.expr);
  }
}
