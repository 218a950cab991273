"""Partial derivatives of user functions, by SymPy (symgrad.partials asks
for them, once per function and argument, and keeps them).

A user function `f(t) = body` is a scalar formula. Its body (IR over
`argument` leaves) is turned into a SymPy expression, differentiated with
`sympy.diff`, simplified, re-expressed through the function's own output
where that is cheaper (f = sigmoid gives f' = f(1 - f)), and turned back
into IR: a derived function `f'` (or `∂f/∂a` for several arguments) that
the gradient graph applies elementwise.

The built-in elementwise functions are SymPy functions here whose
derivatives follow the contract's conventions at kinks: relu'(0) = 0,
abs'(0) = 0, max routes to its first argument when a >= b, min when a <= b.
"""

from __future__ import annotations

import sympy
from sympy import Function, S

from .ir import Node, Program, UserFunction, postorder
from .shapes import SCALAR
from .simplify import Builder, InternalError


class step(Function):
    """1 where x > 0, else 0."""

    def fdiff(self, argindex=1):
        return S.Zero


class at_least(Function):
    """1 where a >= b, else 0."""

    def fdiff(self, argindex=1):
        return S.Zero


class sign(Function):
    def fdiff(self, argindex=1):
        return S.Zero


class absolute(Function):
    def fdiff(self, argindex=1):
        return sign(self.args[0])


class sigmoid(Function):
    def fdiff(self, argindex=1):
        return self * (1 - self)


class relu(Function):
    def fdiff(self, argindex=1):
        return step(self.args[0])


class softplus(Function):
    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])


class gelu(Function):
    def fdiff(self, argindex=1):
        x = self.args[0]
        return (1 + sympy.erf(x / sympy.sqrt(2))) / 2 + x * sympy.exp(-x ** 2 / 2) / sympy.sqrt(2 * sympy.pi)


class hardtanh(Function):
    def fdiff(self, argindex=1):
        x = self.args[0]
        return step(x + 1) * step(1 - x)


class leaky_relu(Function):
    def fdiff(self, argindex=1):
        z, a = self.args
        return step(z) + a * (1 - step(z)) if argindex == 1 else z * (1 - step(z))


class elu(Function):
    def fdiff(self, argindex=1):
        z, a = self.args
        if argindex == 1:
            return step(z) + (1 - step(z)) * a * sympy.exp(z)
        return (1 - step(z)) * (sympy.exp(z) - 1)


class maximum(Function):
    def fdiff(self, argindex=1):
        a, b = self.args
        return at_least(a, b) if argindex == 1 else 1 - at_least(a, b)


class minimum(Function):
    def fdiff(self, argindex=1):
        a, b = self.args
        return at_least(b, a) if argindex == 1 else 1 - at_least(b, a)


# IR operation -> SymPy function, for the elementwise ops a body may use.
TO_SYMPY = {
    "exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos,
    "tan": sympy.tan, "tanh": sympy.tanh, "erf": sympy.erf, "abs": absolute, "sign": sign,
    "sigmoid": sigmoid, "relu": relu, "softplus": softplus, "gelu": gelu, "hardtanh": hardtanh,
    "leaky_relu": leaky_relu, "elu": elu, "max": maximum, "min": minimum,
}
FROM_SYMPY = {function: op for op, function in TO_SYMPY.items()}
FROM_SYMPY[sympy.Abs] = "abs"
FROM_SYMPY[sympy.sign] = "sign"

_ARITHMETIC = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "neg": lambda a: -a,
}

# The indicators and gates a derived partial holds (a second derivative reads it back).
_INDICATORS = {
    "gt": lambda a, b: step(a - b),
    "ge": lambda a, b: at_least(a, b),
    "where_gt": lambda a, b, x: step(a - b) * x,
    "where_ge": lambda a, b, x: at_least(a, b) * x,
}


def number(value: float):
    """An exact SymPy number for a float written in the model (0.5 -> 1/2)."""
    return sympy.Rational(repr(value)) if value == value and abs(value) != float("inf") else sympy.Float(value)


def derive_partial(program: Program, function: UserFunction, index: int) -> tuple[Node, list[str]]:
    """∂function/∂(its parameter `index`) as an IR formula, and the formula's
    parameters: the function's, and `f(t)`, its output, where the formula
    uses it (f = sigmoid gives f' = f(t) (1 - f(t)))."""
    symbols = [sympy.Symbol(p, real=True) for p in function.params]
    body = sympy_body(program, function, symbols)
    derivative = sympy.diff(body, symbols[index])
    output = sympy.Symbol(f"{function.name}({', '.join(function.params)})", real=True)
    best = choose_form(derivative, body, output)
    uses_output = output in best.free_symbols
    leaves = {s: Node("argument", (), SCALAR, function.span, data=s.name, name=s.name) for s in symbols + [output]}
    params = list(function.params) + ([output.name] if uses_output else [])
    return to_ir(best, Builder(), leaves), params


def sympy_body(program: Program, function: UserFunction, arguments: list) -> sympy.Expr:
    """The body of `function` as SymPy, its parameters bound to `arguments`."""
    values: dict[int, sympy.Expr] = {}
    bound = dict(zip(function.params, arguments))
    for node in postorder([function.body]):
        operands = [values[id(a)] for a in node.args]
        if node.op == "argument":
            value = bound[node.data]
        elif node.op == "number":
            value = number(node.data)
        elif node.op == "variable":  # a const with a value
            value = number(program.variables[node.data].value)
        elif node.op == "apply":
            value = sympy_body(program, program.functions[node.data], operands)
        elif node.op in _ARITHMETIC:
            value = _ARITHMETIC[node.op](*operands)
        elif node.op in _INDICATORS:
            value = _INDICATORS[node.op](*operands)
        else:
            value = TO_SYMPY[node.op](*operands)
        values[id(node)] = value
    return values[id(function.body)]


def choose_form(derivative: sympy.Expr, body: sympy.Expr, output: sympy.Symbol) -> sympy.Expr:
    """The cheapest of: the derivative as SymPy gives it, rewritten, and
    each of those rewritten through the function's output."""
    # sympy.simplify would cost a third of a second (it imports sympy.physics);
    # these cheaper rewritings find the short forms of elementwise derivatives.
    candidates = [derivative, sympy.factor_terms(derivative), sympy.cancel(derivative)]
    if body.free_symbols:
        candidates += [sympy.factor_terms(c.subs(body, output)) for c in list(candidates)]
    convertible = [c for c in candidates if _convertible(c)]
    return min(convertible, key=lambda c: (sympy.count_ops(c), len(str(c))))


def _convertible(expr: sympy.Expr) -> bool:
    for sub in sympy.preorder_traversal(expr):
        if isinstance(sub, (sympy.Symbol, sympy.Number, sympy.Add, sympy.Mul, sympy.Pow)):
            continue
        if sub in (sympy.pi, sympy.E) or isinstance(sub, sympy.NumberSymbol):
            continue
        if type(sub) not in FROM_SYMPY and sub.func not in FROM_SYMPY:
            return False
    return True


def to_ir(expr: sympy.Expr, b: Builder, leaves: dict) -> Node:
    """A SymPy expression as IR, written the way a person would: a - b for
    a + (-1) b, a / b for a b^-1, sqrt for ^(1/2)."""
    if isinstance(expr, sympy.Symbol):
        return leaves[expr]
    if isinstance(expr, (sympy.Number, sympy.NumberSymbol)):
        return b.num(float(expr))
    if isinstance(expr, sympy.Add):
        positive = [t for t in expr.args if not _negative(t)]
        negative = [-t for t in expr.args if _negative(t)]
        total = None
        for term in positive:
            total = to_ir(term, b, leaves) if total is None else b.add(total, to_ir(term, b, leaves))
        for term in negative:
            total = b.neg(to_ir(term, b, leaves)) if total is None else b.sub(total, to_ir(term, b, leaves))
        return total
    if isinstance(expr, sympy.Mul):
        if _negative(expr):
            return b.neg(to_ir(-expr, b, leaves))
        numerator, denominator = expr.as_numer_denom()
        if denominator != 1:
            return b.div(to_ir(numerator, b, leaves), to_ir(denominator, b, leaves))
        product = None
        for factor in expr.args:
            part = to_ir(factor, b, leaves)
            product = part if product is None else b.mul(product, part)
        return product
    if isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        if exponent == S.Half:
            return b.op("sqrt", to_ir(base, b, leaves))
        if exponent.is_number and exponent < 0:
            return b.div(b.num(1), to_ir(base ** -exponent, b, leaves))
        return b.pow(to_ir(base, b, leaves), to_ir(exponent, b, leaves))
    function = FROM_SYMPY.get(expr.func)
    if function is None:
        raise InternalError(f"cannot express {expr} in the IR")
    operands = [to_ir(a, b, leaves) for a in expr.args]
    if expr.func is step:
        return b.op("gt", operands[0], b.num(0))
    if expr.func is at_least:
        return b.op("ge", *operands)
    return b.op(function, *operands)


def _negative(term: sympy.Expr) -> bool:
    coefficient, _ = term.as_coeff_Mul()
    return coefficient.is_number and coefficient < 0


FROM_SYMPY[step] = "gt"
FROM_SYMPY[at_least] = "ge"
