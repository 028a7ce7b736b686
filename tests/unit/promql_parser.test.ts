/**
 * The PromQL lexer and parser in-process: precedence and associativity as Prometheus parses
 * them, selectors, durations, strings with escapes, type errors, the refusals of PromQL outside
 * the subset (422 material) and of unknown functions (400 material), and the input bounds.
 */
import { describe, expect, it } from 'vitest';
import type { Expr } from '../../src/promql/ast.js';
import { typeOf } from '../../src/promql/ast.js';
import { PromQLSyntaxError, PromQLUnsupportedError } from '../../src/promql/errors.js';
import { durationMs, numberValue, tokenize } from '../../src/promql/lexer.js';
import { MAX_EXPRESSION_CHARS, MAX_NESTING_DEPTH, parsePromQL } from '../../src/promql/parser.js';

/** A compact rendering that makes the tree's shape visible. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'number': return String(e.value);
    case 'string': return JSON.stringify(e.value);
    case 'vector_selector': return `sel{${e.matchers.map((m) => `${m.name}${m.op}${m.value}`).join(',')}}${e.offsetMs > 0 ? ` offset ${e.offsetMs}` : ''}`;
    case 'matrix_selector': return `${show(e.selector)}[${e.rangeMs}]`;
    case 'call': return `${e.func}(${e.args.map(show).join(', ')})`;
    case 'aggregate': return `${e.op}${e.grouping.length > 0 || e.without ? ` ${e.without ? 'without' : 'by'}(${e.grouping.join(',')})` : ''}(${e.param === undefined ? '' : `${show(e.param)}, `}${show(e.expr)})`;
    case 'binary': return `(${show(e.lhs)} ${e.op}${e.returnBool ? ' bool' : ''}${e.matching === undefined ? '' : ` ${e.matching.on ? 'on' : 'ignoring'}(${e.matching.labels.join(',')})`} ${show(e.rhs)})`;
    case 'unary': return `-${show(e.expr)}`;
    case 'paren': return `[${show(e.expr)}]`;
  }
}

const parse = (s: string) => show(parsePromQL(s));

describe('lexer', () => {
  it('reads numbers, durations, identifiers with colons, operators and strings', () => {
    expect(tokenize('rate(a:b_c[1h30m]) >= 0x1F').map((t) => `${t.kind}:${t.text}`)).toEqual([
      'ident:rate', 'op:(', 'ident:a:b_c', 'op:[', 'duration:1h30m', 'op:]', 'op:)', 'op:>=', 'number:0x1F', 'eof:',
    ]);
    expect(tokenize('1.5e3 .5 Inf NaN').map((t) => numberValue(t.text)).slice(0, 4)).toEqual([1500, 0.5, Infinity, NaN]);
    expect(tokenize(`"a\\"b\\n\\x41\\u00e9" 'c\\'d' \`raw\\n\``).slice(0, 3).map((t) => t.text)).toEqual(['a"b\nAé', "c'd", 'raw\\n']);
    expect(tokenize('# a comment\nfoo').map((t) => t.text)).toEqual(['foo', '']);
  });

  it('converts durations with every unit', () => {
    expect(durationMs('1y2w3d4h5m6s7ms', 0)).toBe(31_536_000_000 + 2 * 604_800_000 + 3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6000 + 7);
    expect(() => durationMs('5x', 0)).toThrow(PromQLSyntaxError);
  });

  it('refuses malformed input naming the position', () => {
    expect(() => tokenize('foo $ bar')).toThrow(/char 5: unexpected character "\$"/);
    expect(() => tokenize('"unterminated')).toThrow(/unterminated quoted string/);
    expect(() => tokenize('"bad \\q escape"')).toThrow(/unknown escape sequence/);
    expect(() => tokenize('12abc')).toThrow(/bad number or duration/);
  });
});

describe('parser', () => {
  it('follows Prometheus precedence and associativity', () => {
    expect(parse('1 + 2 * 3')).toBe('(1 + (2 * 3))');
    expect(parse('2 ^ 3 ^ 2')).toBe('(2 ^ (3 ^ 2))');
    expect(parse('-2 ^ 2')).toBe('-(2 ^ 2)');
    expect(parse('2 ^ -1')).toBe('(2 ^ -1)');
    expect(parse('a - b - c')).toBe('((sel{__name__=a} - sel{__name__=b}) - sel{__name__=c})');
    expect(parse('a > b + 1')).toBe('(sel{__name__=a} > (sel{__name__=b} + 1))');
    expect(parse('(1 + 2) * 3')).toBe('([(1 + 2)] * 3)');
    expect(parse('+a')).toBe('sel{__name__=a}');
    expect(parse('-1')).toBe('-1');
  });

  it('parses selectors, matchers, ranges and offsets', () => {
    expect(parse('http_total{code="200", path!="/x", job=~"a.*", env!~"dev",}')).toBe('sel{__name__=http_total,code=200,path!=/x,job=~a.*,env!~dev}');
    expect(parse('{__name__=~"a|b"}')).toBe('sel{__name__=~a|b}');
    expect(parse('a[5m] offset 1h')).toBe('sel{__name__=a} offset 3600000[300000]');
    expect(parse('a offset 5m')).toBe('sel{__name__=a} offset 300000');
  });

  it('parses aggregations with grouping before or after, and parameters', () => {
    expect(parse('sum by (a, b) (x)')).toBe('sum by(a,b)(sel{__name__=x})');
    expect(parse('sum(x) without (a)')).toBe('sum without(a)(sel{__name__=x})');
    expect(parse('topk(3, x)')).toBe('topk(3, sel{__name__=x})');
    expect(parse('count by () (x)')).toBe('count(sel{__name__=x})');
  });

  it('parses calls, bool and vector matching', () => {
    expect(parse('histogram_quantile(0.9, rate(x_bucket[5m]))')).toBe('histogram_quantile(0.9, rate(sel{__name__=x_bucket}[300000]))');
    expect(parse('round(x)')).toBe('round(sel{__name__=x})');
    expect(parse('a > bool on(host) b')).toBe('(sel{__name__=a} > bool on(host) sel{__name__=b})');
    expect(parse('a / ignoring(code) b')).toBe('(sel{__name__=a} / ignoring(code) sel{__name__=b})');
    expect(parse('a ^ on(x) b')).toBe('(sel{__name__=a} ^ on(x) sel{__name__=b})');
    expect(parse('time()')).toBe('time()');
  });

  it('types expressions', () => {
    expect(typeOf(parsePromQL('1 + 1'))).toBe('scalar');
    expect(typeOf(parsePromQL('time() * 2'))).toBe('scalar');
    expect(typeOf(parsePromQL('a * 2'))).toBe('vector');
    expect(typeOf(parsePromQL('a[1m]'))).toBe('matrix');
    expect(typeOf(parsePromQL('"s"'))).toBe('string');
    expect(typeOf(parsePromQL('-(a)'))).toBe('vector');
  });

  it.each([
    ['rate(a)', /expected type range vector in call to function "rate", got instant vector/],
    ['sum(a[5m])', /expected type instant vector in aggregation expression, got range vector/],
    ['1 > 2', /comparisons between scalars must use BOOL modifier/],
    ['a + bool b', /bool modifier can only be used on comparison operators/],
    ['1 + on(x) a', /vector matching only allowed between instant vectors/],
    ['a[5m] + 1', /binary expression must contain only scalar and instant vector types/],
    ['-a[5m]', /unary expression only allowed on expressions of type scalar or instant vector/],
    ['nonexistent(a)', /unknown function with name "nonexistent"/],
    ['rate(a[5m], 1)', /expected 1 argument\(s\) in call to "rate", got 2/],
    ['round(a, 1, 2)', /expected 1 to 2 argument\(s\)/],
    ['topk(a)', /expected 2, got 1/],
    ['sum(1, a)', /expected 1, got 2/],
    ['{a=""}', /at least one non-empty matcher/],
    ['{a=~".*"}', /at least one non-empty matcher/],
    ['a{__name__="b"}', /metric name must not be set twice/],
    ['a{b=1}', /expected string/],
    ['a{b~"1"}', /unexpected character/],
    ['a{b>"1"}', /expected label matching operator/],
    ['(a', /expected "\)"/],
    ['a b', /unexpected ident "b"/],
    ['', /no expression found/],
    ['5m', /unexpected duration/],
    ['(1 + 2)[5m]', /ranges only allowed for vector selectors/],
    ['a[0s]', /range must be positive/],
    ['a[5]', /expected duration/],
    ['sum(a) offset 5m', /offset modifier must be preceded by an instant vector selector or range vector selector/],
    ['a{b=~"("}', /invalid regular expression/],
    [')', /unexpected op "\)"/],
  ])('refuses %s as a syntax error', (src, message) => {
    expect(() => parsePromQL(src)).toThrow(PromQLSyntaxError);
    expect(() => parsePromQL(src)).toThrow(message);
  });

  it.each([
    ['deriv(a[5m])', 'function "deriv"'],
    ['label_replace(a, "x", "$1", "y", "(.*)")', 'function "label_replace"'],
    ['quantile(0.5, a)', 'aggregation "quantile"'],
    ['a and b', 'binary operator "and"'],
    ['a or b', 'binary operator "or"'],
    ['a unless b', 'binary operator "unless"'],
    ['a * on(x) group_left b', 'group_left'],
    ['rate(a[5m:1m])', 'subqueries'],
    ['a @ 100', 'the @ modifier'],
    ['a offset -5m', 'negative offsets'],
  ])('refuses %s as unsupported, naming %s', (src, what) => {
    expect(() => parsePromQL(src)).toThrow(PromQLUnsupportedError);
    expect(() => parsePromQL(src)).toThrow(what);
  });

  it('bounds the expression length and nesting depth', () => {
    expect(() => parsePromQL(`a${' '.repeat(MAX_EXPRESSION_CHARS)}`)).toThrow(/more than 16384/);
    const deep = `${'('.repeat(MAX_NESTING_DEPTH + 1)}1${')'.repeat(MAX_NESTING_DEPTH + 1)}`;
    expect(() => parsePromQL(deep)).toThrow(/nests deeper than 64/);
    expect(() => parsePromQL(`${'-'.repeat(MAX_NESTING_DEPTH + 1)}1`)).toThrow(/nests deeper/);
    expect(() => parsePromQL(`${'abs('.repeat(MAX_NESTING_DEPTH + 1)}a${')'.repeat(MAX_NESTING_DEPTH + 1)}`)).toThrow(/nests deeper/);
    expect(parse(`${'('.repeat(10)}1${')'.repeat(10)}`)).toBe(`${'['.repeat(10)}1${']'.repeat(10)}`);
  });
});
