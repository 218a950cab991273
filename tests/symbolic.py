"""An independent evaluator of symgrad's IR over SymPy, for the tests.

Given a checked `Program` and concrete sizes for its dimensions
(`{"n": 2, "m": 3}`), every variable becomes a SymPy matrix of real scalar
symbols (or the concrete values given), and any node, forward or gradient,
evaluates to a SymPy matrix. The meaning of every operation is written here
again, from the language's contract (../shared/spec/language.md), entry by
entry: nothing of symgrad's adjoint rules, simplifier or SymPy helpers is
used, so a test that differentiates a forward value with `sympy.diff` and
compares it with the evaluated gradient checks symgrad against an outside
reference.

Conventions at kinks are the contract's and are written as Piecewise
conditions, so that SymPy's own `diff` follows them too: relu(x) is x where
x > 0, max(a, b) is a where a >= b, min(a, b) is a where a <= b; abs is
SymPy's Abs, whose derivative sign(x) is 0 at 0.

The internal operations of gradient graphs are here as well: fill, rowsum,
colsum, identity, zeros, the indicators gt and ge, the gates where_gt and
where_ge (x where a > b, else 0), erf, and `apply` of a
derived partial (its formula taken from the `Partials.derived` table, its
IR body evaluated here like any other).

Indexing (#12): dimensions may be polynomials of the sizes (`5 d`, `n + m`),
and a variable of ids (`input y : {0..C-1}^N`) is a concrete integer
column, given in `values` or drawn in range 0..C-1 with a repeat, never a
symbol: gathers, blocks, pick and onehot select entries the ids (and the
dimension expressions) name, 0-based and half-open, and the columns of
vec are stacked in order, as language.md says.
"""

from __future__ import annotations

from typing import Callable

import sympy
from sympy import Matrix, Piecewise, Rational

from symgrad.shapes import dim_value


def exact(value) -> sympy.Expr:
    """A number as written, exactly: 0.1 is 1/10, not the nearest double."""
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, int):
        return sympy.Integer(value)
    return Rational(repr(float(value)))


def matrix(value) -> Matrix:
    """A number, a flat list (a column) or a list of rows, as an exact Matrix."""
    if isinstance(value, Matrix):
        return value
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):
            return Matrix([[exact(v) for v in row] for row in value])
        return Matrix([exact(v) for v in value])
    return Matrix([[exact(value)]])


# ------------------------------------------------- scalar meanings of the ops

def _indicator(condition) -> sympy.Expr:
    return Piecewise((1, condition), (0, True))


def _erf_cdf(x):
    return (1 + sympy.erf(x / sympy.sqrt(2))) / 2


ELEMENTWISE: dict[str, Callable[..., sympy.Expr]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "neg": lambda a: -a,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
    "sign": sympy.sign,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "tanh": sympy.tanh,
    "erf": sympy.erf,
    "sigmoid": lambda x: 1 / (1 + sympy.exp(-x)),
    "sigmoid_slope": lambda y, z: sympy.exp(-z) / (1 + sympy.exp(-z)) ** 2,
    "softplus_slope": lambda z, y: 1 / (1 + sympy.exp(-z)),
    "tanh_slope": lambda y, z: 1 - sympy.tanh(z) ** 2,
    "relu": lambda x: Piecewise((x, x > 0), (0, True)),
    "softplus": lambda x: sympy.log(1 + sympy.exp(x)),
    "gelu": lambda x: x * _erf_cdf(x),
    "hardtanh": lambda x: Piecewise((-1, x < -1), (1, x > 1), (x, True)),
    "leaky_relu": lambda z, a: Piecewise((z, z > 0), (a * z, True)),
    "elu": lambda z, a: Piecewise((z, z > 0), (a * (sympy.exp(z) - 1), True)),
    "max": lambda a, b: Piecewise((a, a >= b), (b, True)),
    "min": lambda a, b: Piecewise((a, a <= b), (b, True)),
    "gt": lambda a, b: _indicator(a > b),
    "ge": lambda a, b: _indicator(a >= b),
    "where_gt": lambda a, b, x: Piecewise((x, a > b), (0, True)),
    "where_ge": lambda a, b, x: Piecewise((x, a >= b), (0, True)),
}


def _columns(m: Matrix):
    return [m[:, j] for j in range(m.cols)]


def _softmax_column(column: Matrix) -> Matrix:
    exps = column.applyfunc(sympy.exp)
    return exps / sum(exps)


def _logsumexp_column(column: Matrix) -> sympy.Expr:
    return sympy.log(sum(column.applyfunc(sympy.exp)))


def _per_column(m: Matrix, f) -> Matrix:
    return Matrix.hstack(*(f(c) for c in _columns(m)))


STRUCTURAL: dict[str, Callable[[Matrix], Matrix]] = {
    "sum": lambda a: Matrix([[sum(a)]]),
    "mean": lambda a: Matrix([[sum(a) / len(a)]]),
    "tr": lambda a: Matrix([[a.trace()]]),
    "det": lambda a: Matrix([[a.det()]]),
    "logdet": lambda a: Matrix([[sympy.log(a.det())]]),
    "inv": lambda a: a.inv(),
    "transpose": lambda a: a.T,
    "diag_matrix": lambda v: sympy.diag(*v),
    "diag_vector": lambda a: Matrix([a[i, i] for i in range(a.rows)]),
    "norm": lambda a: Matrix([[sympy.sqrt(sum(e ** 2 for e in a))]]),
    "sqnorm": lambda a: Matrix([[sum(e ** 2 for e in a)]]),
    "norm1": lambda a: Matrix([[sum(sympy.Abs(e) for e in a)]]),
    "rowsum": lambda a: Matrix([sum(a[i, :]) for i in range(a.rows)]),
    "colsum": lambda a: Matrix([[sum(a[:, j]) for j in range(a.cols)]]),
    "softmax": lambda a: _per_column(a, _softmax_column),
    "log_softmax": lambda a: _per_column(a, lambda c: c - Matrix.ones(c.rows, 1) * _logsumexp_column(c)),
    "logsumexp": lambda a: Matrix([[_logsumexp_column(c) for c in _columns(a)]]),
}


def _softmax_grad_column(s: Matrix, g: Matrix) -> Matrix:
    """∂(softmax(s))ᵀ g: P ∘ (g - Pᵀ g), P = softmax(s)."""
    p = _softmax_column(s)
    return p.multiply_elementwise(g - Matrix.ones(g.rows, 1) * (p.T * g)[0, 0])


def _log_softmax_grad_column(s: Matrix, g: Matrix) -> Matrix:
    """∂(log_softmax(s))ᵀ g: g - softmax(s) sum(g)."""
    return g - _softmax_column(s) * sum(g)


# The fused operations of gradient graphs, from the function they
# differentiate: softmax_grad(P, S, G) and log_softmax_grad(log_softmax(S), G)
# (whose S is read back as the log_softmax itself: softmax(y) = exp(y) when y
# is a log_softmax), norm_grad(A, ||A||, g) and sigmoid_slope(σ(z), z) = σ'(z).
FUSED: dict[str, Callable[..., Matrix]] = {
    "softmax_grad": lambda p, s, g: Matrix.hstack(
        *(_softmax_grad_column(s[:, j], g[:, j]) for j in range(s.cols))),
    "norm_grad": lambda a, norm, g: a * g[0, 0] / norm[0, 0],    # g A / ||A||
    "log_softmax_grad": lambda y, g: Matrix.hstack(
        *(_log_softmax_grad_column(y[:, j], g[:, j]) for j in range(y.cols))),
    "add_diagonal": lambda a, c: a + c[0, 0] * sympy.eye(a.rows),   # A + c I
}


# ------------------------------------------------ indexing and blocks (#12)

def _ids(m: Matrix) -> list[int]:
    return [int(v) for v in m]


def _gather(a: Matrix, ids: Matrix, axis: str) -> Matrix:
    """A[ids, :] or A[:, ids], a repeated id repeating its row (column)."""
    if axis == "rows":
        return Matrix([[a[i, j] for j in range(a.cols)] for i in _ids(ids)])
    return Matrix([[a[i, j] for j in _ids(ids)] for i in range(a.rows)])


def _scatter(g: Matrix, ids: Matrix, axis: str, rows: int, cols: int) -> Matrix:
    """Zeros with G's rows (columns) added at the ids: repeated ids summed."""
    out = sympy.zeros(rows, cols)
    for position, i in enumerate(_ids(ids)):
        if axis == "rows":
            out[i, :] = out[i, :] + g[position, :]
        else:
            out[:, i] = out[:, i] + g[:, position]
    return out


def _placed(g: Matrix, r0: int, c0: int, rows: int, cols: int) -> Matrix:
    """Zeros of rows×cols with g at (r0, c0)."""
    out = sympy.zeros(rows, cols)
    out[r0:r0 + g.rows, c0:c0 + g.cols] = g
    return out


def _pick_scatter(g: Matrix, ids: Matrix, rows: int, cols: int) -> Matrix:
    """Zeros of C×N with G_j at (y_j, j)."""
    out = sympy.zeros(rows, cols)
    for j, i in enumerate(_ids(ids)):
        out[i, j] = g[0, j]
    return out


# name -> meaning(operands, data, evaluator.dim, rows, cols of the result)
INDEXING: dict[str, Callable[..., Matrix]] = {
    "gather": lambda args, data, dim, rows, cols: _gather(args[0], args[1], data),
    "scatter": lambda args, data, dim, rows, cols: _scatter(args[0], args[1], data[0], rows, cols),
    "block": lambda args, data, dim, rows, cols: args[0][dim(data[0]):dim(data[1]), dim(data[2]):dim(data[3])],
    "unblock": lambda args, data, dim, rows, cols: _placed(args[0], dim(data[0]), dim(data[1]), rows, cols),
    "pick": lambda args, data, dim, rows, cols: Matrix([[args[0][i, j] for j, i in enumerate(_ids(args[1]))]]),
    "pick_scatter": lambda args, data, dim, rows, cols: _pick_scatter(args[0], args[1], rows, cols),
    "onehot": lambda args, data, dim, rows, cols: Matrix(
        rows, cols, lambda i, j: 1 if _ids(args[0])[j] == i else 0),
    "vstack": lambda args, data, dim, rows, cols: Matrix.vstack(*args),
    "hstack": lambda args, data, dim, rows, cols: Matrix.hstack(*args),
    "vec": lambda args, data, dim, rows, cols: Matrix([args[0][i, j] for j in range(args[0].cols)
                                                       for i in range(args[0].rows)]),
    "unvec": lambda args, data, dim, rows, cols: Matrix(rows, cols, lambda i, j: args[0][j * rows + i]),
}


def draw_ids(count: int, length: int, seed: int = 0) -> list[int]:
    """`length` ids in 0..count-1, seeded, with a repeat where there are two
    or more (so that a scatter sums)."""
    import random

    rng = random.Random(seed)
    ids = [rng.randrange(count) for _ in range(length)]
    if length >= 2:
        ids[-1] = ids[0]
    return ids


class EvaluationError(Exception):
    """A node this evaluator cannot give a meaning to, or of the wrong size."""


class Evaluator:
    """Evaluates IR nodes of one program to SymPy matrices.

    `sizes` binds every symbolic dimension; `values` (optional) gives some
    variables concrete values (a number, a column as a list, a list of
    rows; ids as a list of ints, or one int); a variable of ids not given
    is drawn in range (`draw_ids`, seeded by `seed`); every other variable
    is a matrix of real symbols named `X[i,j]` (a scalar variable is the
    symbol `X`). `derived` is the table of derived partial functions,
    `derivation.builder._partial.derived`.
    """

    def __init__(self, program, sizes: dict[str, int] | None = None, values: dict | None = None,
                 derived: dict | None = None, seed: int = 0):
        self.program = program
        self.sizes = dict(sizes or {})
        missing = [d for d in program.dims if d not in self.sizes]
        if missing:
            raise EvaluationError(f"no size given for the dimensions {missing}")
        self.functions = dict(program.functions)
        for function in (derived or {}).values():
            if function is not None:
                self.functions[function.name] = function
        self.symbols: dict[str, Matrix] = {}
        self.leaves: dict[str, Matrix] = {}
        values = values or {}
        for name, variable in program.variables.items():
            if variable.value is not None:
                self.leaves[name] = matrix(variable.value)
                continue
            rows, cols = self.shape(variable.shape)
            if name in values:
                value = matrix(values[name])
                if value.shape != (rows, cols):
                    raise EvaluationError(f"{name} is {rows}×{cols}, its value {value.shape}")
                self.leaves[name] = value
                continue
            if variable.ids is not None:
                self.leaves[name] = Matrix(rows, cols, draw_ids(self.dim(variable.ids), rows * cols, seed))
                continue
            if (rows, cols) == (1, 1):
                symbols = Matrix([[sympy.Symbol(name, real=True)]])
            else:
                symbols = Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}[{i},{j}]", real=True))
            self.symbols[name] = symbols
            self.leaves[name] = symbols
        # The directions of second-order products by name ("v", "v_A", "u"): symbols unless set.
        self.directions: dict[str, Matrix] = {}
        self._memo: dict[int, Matrix] = {}
        self._bodies: dict[str, tuple[list[sympy.Symbol], sympy.Expr]] = {}

    # ------------------------------------------------------------ sizes
    def dim(self, d) -> int:
        return dim_value(d, self.sizes)

    def shape(self, shape) -> tuple[int, int]:
        return self.dim(shape.rows), self.dim(shape.cols)

    def all_symbols(self) -> list[sympy.Symbol]:
        return [s for m in self.symbols.values() for s in m]

    # -------------------------------------------------------- evaluation
    def scalar(self, node) -> sympy.Expr:
        value = self.evaluate(node)
        if value.shape != (1, 1):
            raise EvaluationError(f"{node!r} is not a scalar")
        return value[0, 0]

    def evaluate(self, node) -> Matrix:
        """The value of node as a SymPy matrix of its (concrete) shape."""
        for each in postorder(node):
            if id(each) not in self._memo:
                value = self._compute(each)
                if value.shape != self.shape(each.shape):
                    raise EvaluationError(f"{each!r} evaluated to {value.shape}, its shape says "
                                          f"{self.shape(each.shape)}")
                self._memo[id(each)] = value
        return self._memo[id(node)]

    def _compute(self, node) -> Matrix:
        op = node.op
        args = [self._memo[id(a)] for a in node.args]
        rows, cols = self.shape(node.shape)
        if op == "variable":
            return self.leaves[node.data]
        if op == "direction":  # v of a Hessian-vector product, u of a vector-Jacobian product: symbols v[i,j]
            if node.data not in self.directions:
                self.directions[node.data] = Matrix(rows, cols, lambda i, j: sympy.Symbol(
                    f"{node.data}[{i},{j}]", real=True))
            return self.directions[node.data]
        if op == "number":
            return Matrix([[exact(node.data)]])
        if op == "dimension":
            return Matrix([[sympy.Integer(self.dim(node.data))]])
        if op == "identity":
            return sympy.eye(self.dim(node.data))
        if op == "zeros":
            return sympy.zeros(rows, cols)
        if op == "fill":
            return broadcast(args[0], rows, cols)
        if op == "matmul":
            return args[0] * args[1]
        if op in STRUCTURAL:
            return STRUCTURAL[op](args[0])
        if op in FUSED:
            return FUSED[op](*args)
        if op in INDEXING:
            return INDEXING[op](args, node.data, self.dim, rows, cols)
        if op == "apply":
            return self._apply(node.data, [broadcast(a, rows, cols) for a in args], rows, cols)
        if op in ELEMENTWISE:
            spread = [broadcast(a, rows, cols) for a in args]
            return Matrix(rows, cols, lambda i, j: ELEMENTWISE[op](*(a[i, j] for a in spread)))
        raise EvaluationError(f"no meaning for the operation '{op}'")

    # ------------------------------------------------------ user functions
    def _apply(self, name: str, operands: list[Matrix], rows: int, cols: int) -> Matrix:
        parameters, body = self.body(name)
        if len(parameters) != len(operands):
            raise EvaluationError(f"{name} takes {len(parameters)} arguments, applied to {len(operands)}")
        return Matrix(rows, cols, lambda i, j: body.xreplace(
            {p: a[i, j] for p, a in zip(parameters, operands)}))

    def body(self, name: str) -> tuple[list[sympy.Symbol], sympy.Expr]:
        """A user or derived function's formula over placeholder symbols."""
        if name not in self._bodies:
            function = self.functions.get(name)
            if function is None:
                raise EvaluationError(f"no formula for the function '{name}'")
            parameters = [sympy.Dummy(p, real=True) for p in function.params]
            bound = {p: Matrix([[s]]) for p, s in zip(function.params, parameters)}
            self._bodies[name] = (parameters, self._scalar_formula(function.body, bound))
        return self._bodies[name]

    def _scalar_formula(self, root, arguments: dict[str, Matrix]) -> sympy.Expr:
        """A function body, evaluated with its argument leaves bound."""
        values: dict[int, Matrix] = {}
        saved, self._memo = self._memo, values
        try:
            for node in postorder(root):
                if node.op == "argument":
                    values[id(node)] = arguments[node.data]
                else:
                    values[id(node)] = self._compute(node)
        finally:
            self._memo = saved
        return values[id(root)][0, 0]


def postorder(root) -> list:
    """Every node under root, once each, operands first (no recursion)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((arg, False) for arg in reversed(node.args))
    return order


def broadcast(value: Matrix, rows: int, cols: int) -> Matrix:
    """The contract's three broadcasts: a scalar over anything, a column over
    every column, a row over every row."""
    if value.shape == (rows, cols):
        return value
    if value.shape == (1, 1):
        return Matrix(rows, cols, lambda i, j: value[0, 0])
    if value.shape == (rows, 1):
        return Matrix(rows, cols, lambda i, j: value[i, 0])
    if value.shape == (1, cols):
        return Matrix(rows, cols, lambda i, j: value[0, j])
    raise EvaluationError(f"cannot broadcast {value.shape} to {(rows, cols)}")


# ------------------------------------------- models and the SymPy comparison

SPECIAL_OPS = {"variable", "direction", "number", "dimension", "argument", "identity", "zeros", "fill", "matmul", "apply"}


def has_meaning(op: str) -> bool:
    """Whether this evaluator gives the operation a meaning of its own."""
    return op in SPECIAL_OPS or op in ELEMENTWISE or op in STRUCTURAL or op in FUSED or op in INDEXING


class Model:
    """A model checked and differentiated by symgrad, with an evaluator of
    its nodes at the sizes (and values) given."""

    def __init__(self, text_or_path: str, sizes: dict | None = None, values: dict | None = None):
        from pathlib import Path

        from symgrad.differentiation import differentiate_program
        from symgrad.lowering import analyze
        from symgrad.second_order import differentiate_second_order
        from symgrad.source import Source, read_source

        if isinstance(text_or_path, Path) or "\n" not in text_or_path:
            source = read_source(str(text_or_path))
        else:
            source = Source(text_or_path, "model.sg")
        self.program = analyze(source)
        self.derivations = differentiate_program(self.program)
        # Before the evaluator: a second derivative may derive partials of its own (f'').
        self.second = differentiate_second_order(self.program, self.derivations)
        partials = (self.derivations[0].builder if self.derivations
                    else self.second.jacobians[0].builder)._partial
        self.evaluator = Evaluator(self.program, sizes, values,
                                   derived=partials.derived if partials is not None else None)

    def value(self, target: str | None = None) -> sympy.Expr:
        """The value of a `grad` statement's target (the first by default)."""
        return self.evaluator.scalar(self.derivation(target).request.node)

    def definition(self, name: str) -> Matrix:
        return self.evaluator.evaluate(self.program.definitions[name])

    def gradient(self, variable: str, target: str | None = None) -> Matrix:
        return self.evaluator.evaluate(self.derivation(target).gradients[variable])

    def derivation(self, target: str | None = None):
        if target is None:
            return self.derivations[0]
        return next(d for d in self.derivations if d.target == target)


def random_point(evaluator: Evaluator, rng, domain=(-2, 2)) -> dict:
    """Every symbol of the model at a random nonzero rational in domain, each
    with its own denominator, so that ties (kinks of max, relu) are unlikely."""
    return _nonzero_rationals(evaluator.all_symbols(), rng, domain)


def mismatches(model: Model, *, points: int = 0, domain=(-2, 2), accept=None, tolerance=1e-40,
               seed: int = 1) -> list[tuple]:
    """Every gradient entry of every `grad` statement that differs from the
    SymPy derivative of its target by the entry's symbol, as
    (target, variable, (i, j), expected, got).

    points=0: the difference must simplify to 0 (exact). Otherwise the two
    must agree at `points` random rational points of `domain` (accepted by
    `accept(point)`), evaluated with 60 digits and within `tolerance`
    relative to the expected value (1e-40: equal; larger only for gradients
    that carry float constants). Away from kinks, a DiracDelta that SymPy's
    derivative of sign() carries is 0."""
    evaluator = model.evaluator
    chosen = chosen_points(evaluator, points, domain, accept, seed)
    found = []
    for derivation in model.derivations:
        target = evaluator.scalar(derivation.request.node)
        for name, node in derivation.gradients.items():
            got = evaluator.evaluate(node)
            symbols = evaluator.symbols[name]
            if got.shape != symbols.shape:
                found.append((derivation.target, name, "shape", symbols.shape, got.shape))
                continue
            expected = symbols.applyfunc(lambda symbol: sympy.diff(target, symbol))
            same = (_agree_at(expected, got, chosen, tolerance) if chosen
                    else [e == g or sympy.simplify(e - g) == 0 for e, g in zip(expected, got)])
            found += [(derivation.target, name, divmod(k, symbols.cols), expected[k], got[k])
                      for k, ok in enumerate(same) if not ok]
    return found


def chosen_points(evaluator: Evaluator, points: int, domain=(-2, 2), accept=None, seed: int = 1) -> list[dict]:
    """`points` random points of the model's symbols (random_point), each accepted by `accept(point)`."""
    import random

    rng = random.Random(seed)
    chosen = []
    while len(chosen) < points:
        point = random_point(evaluator, rng, domain)
        if accept is None or accept(point):
            chosen.append(point)
    return chosen


def second_order_mismatches(model: Model, *, points: int = 0, domain=(-2, 2), accept=None, tolerance=1e-40,
                            seed: int = 1, chosen: list[dict] | None = None) -> list[tuple]:
    """Every entry of every `hessian` and `jacobian` statement's derivatives
    that differs from SymPy's, as (target, what, (i, j), expected, got):

    - the Hessian-vector product of each variable A, ((∇²s) v)_A, against
      Σ_B ∂²s/∂A∂B · V_B from `sympy.hessian` of the target over every
      variable's entries (a matrix's row by row), with the directions V
      symbols; what = "hvp A";
    - the full Hessian, where symgrad has it in matrix form, against
      `sympy.hessian` itself (vectors' entries in order, wrt order); "hessian";
    - the Jacobian ∂y/∂x, where in matrix form, against SymPy's
      `jacobian` of y's entries (a row vector's by column); "jacobian";
      and the vector-Jacobian product Jᵀ u against that Jacobian; "vjp".

    points, domain, accept, tolerance as for `mismatches` (the directions
    drawn like the variables); or `chosen`: the points of the variables'
    symbols, given."""
    import random

    evaluator = model.evaluator
    found, compared = [], []   # compared: (target, what, expected, got) to compare entry by entry
    for hessian in model.second.hessians:
        variables = [v.name for v in hessian.request.wrt]
        target = evaluator.scalar(hessian.request.node)
        entries = [s for name in variables for s in evaluator.symbols[name]]
        expected = sympy.hessian(target, entries)
        directions = [d for name in variables for d in evaluator.evaluate(hessian.directions[name])]
        product = expected * Matrix(directions)
        start = 0
        for name in variables:
            shape = evaluator.symbols[name].shape
            wanted = product[start:start + shape[0] * shape[1], :].reshape(*shape)
            compared.append((hessian.target, f"hvp {name}", wanted, evaluator.evaluate(hessian.products[name])))
            start += shape[0] * shape[1]
        if hessian.matrix is not None:
            compared.append((hessian.target, "hessian", expected, evaluator.evaluate(hessian.matrix)))
    for jacobian in model.second.jacobians:
        y = evaluator.evaluate(jacobian.request.node)
        x = evaluator.symbols[jacobian.request.variable.name]
        expected = Matrix(list(y)).jacobian(list(x))
        u = evaluator.evaluate(jacobian.cotangent)
        product = (expected.T * Matrix(list(u))).reshape(*x.shape)
        compared.append((jacobian.target, "vjp", product, evaluator.evaluate(jacobian.product)))
        if jacobian.matrix is not None:
            compared.append((jacobian.target, "jacobian", expected, evaluator.evaluate(jacobian.matrix)))
    if chosen is None:
        chosen = chosen_points(evaluator, points, domain, accept, seed)
    if chosen:
        rng = random.Random(seed)
        directions = [s for m in evaluator.directions.values() for s in m]
        chosen = [{**point, **_nonzero_rationals(directions, rng, domain)} for point in chosen]
    for target, what, expected, got in compared:
        if got.shape != expected.shape:
            found.append((target, what, "shape", expected.shape, got.shape))
            continue
        same = (_agree_at(expected, got, chosen, tolerance) if chosen
                else [e == g or sympy.simplify(e - g) == 0 for e, g in zip(expected, got)])
        found += [(target, what, divmod(k, expected.cols), expected[k], got[k])
                  for k, ok in enumerate(same) if not ok]
    return found


def _nonzero_rationals(symbols, rng, domain) -> dict:
    """Each symbol at a random nonzero rational of domain, as random_point draws."""
    lo, hi = domain
    point = {}
    for symbol in symbols:
        q = rng.randint(101, 997)
        p = 0
        while p == 0:
            p = rng.randint(int(lo * q) + 1, int(hi * q) - 1)
        point[symbol] = Rational(p, q)
    return point


def _agree_at(expected: Matrix, got: Matrix, points: list[dict], tolerance) -> list[bool]:
    """Entry by entry, whether expected and got agree at every point."""
    import mpmath

    same = [True] * len(expected)
    with mpmath.workdps(60):
        for point in points:
            values = {symbol: mpmath.mpf(value.p) / value.q for symbol, value in point.items()}
            cache: dict = {}
            for k, (e, g) in enumerate(zip(expected, got)):
                wanted, computed = numeric(e, values, cache), numeric(g, values, cache)
                if not abs(wanted - computed) <= tolerance * max(1, abs(wanted)):
                    same[k] = False
    return same


def numeric(expr, values: dict, cache: dict):
    """expr at the point `values` (symbol -> mpf), in mpmath at the working
    precision; a subexpression met again is taken from `cache`. A DiracDelta
    (from SymPy's derivative of sign) is 0 there: points are away from kinks."""
    import mpmath

    found = cache.get(expr)
    if found is not None:
        return found
    args = expr.args
    if expr.is_Symbol:
        value = values[expr]
    elif expr.is_Rational:
        value = mpmath.mpf(expr.p) / expr.q
    elif expr.is_Float:
        value = mpmath.mpf(expr)
    elif expr is sympy.pi:
        value = +mpmath.pi
    elif expr is sympy.E:
        value = mpmath.e()
    elif expr is sympy.true or expr is sympy.false:
        value = bool(expr)
    elif expr.is_Add:
        value = mpmath.fsum(numeric(a, values, cache) for a in args)
    elif expr.is_Mul:
        value = mpmath.fprod(numeric(a, values, cache) for a in args)
    elif expr.is_Pow:
        value = mpmath.power(numeric(args[0], values, cache), numeric(args[1], values, cache))
    elif isinstance(expr, sympy.Piecewise):
        value = next(numeric(v, values, cache) for v, condition in args if numeric(condition, values, cache))
    elif isinstance(expr, sympy.core.relational.Relational):
        value = _COMPARE[expr.rel_op](numeric(args[0], values, cache), numeric(args[1], values, cache))
    elif isinstance(expr, (sympy.And, sympy.Or, sympy.Not)):
        truths = [numeric(a, values, cache) for a in args]
        value = all(truths) if isinstance(expr, sympy.And) else any(truths) if isinstance(expr, sympy.Or) \
            else not truths[0]
    elif isinstance(expr, sympy.ITE):   # if-then-else, in SymPy's derivatives of Piecewise conditions
        value = numeric(args[1] if numeric(args[0], values, cache) else args[2], values, cache)
    elif isinstance(expr, sympy.DiracDelta):
        value = mpmath.mpf(0)
    elif expr.func in _MPMATH:
        value = getattr(mpmath, _MPMATH[expr.func])(*(numeric(a, values, cache) for a in args))
    else:
        raise EvaluationError(f"no numeric meaning for {expr.func}")
    cache[expr] = value
    return value


_MPMATH = {sympy.exp: "exp", sympy.log: "log", sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan",
           sympy.tanh: "tanh", sympy.erf: "erf", sympy.Abs: "fabs", sympy.sign: "sign", sympy.atan2: "atan2"}
_COMPARE = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
