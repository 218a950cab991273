"""Random well-typed models, with inputs inside every operation's domain.

`generate(chooser)` writes a random `.sg` model from every operation of the
language (language.md): random shapes with symbolic and integer dimensions,
all three broadcasting cases, variables and definitions used again (so that
gradients sum), user functions, the stable forms lowering rewrites, several
`grad` statements, expressions up to MAX_DEPTH deep, and the constructs of
#12: gathers by vectors of ids and by single ids (rows, columns, entries),
blocks whose bounds are dimension expressions (`z[0:h]`, `z[h:2 h]`),
`[A; B]`, `[A, B]`, vec, pick, onehot (`sum(onehot(y, C) ∘ X)` too), A^k
of square matrices (k in -2..3) and dimension expressions in types
(`R^(n + m)`, `R^(2 n)`, `R^(m n)`). The choices come from a
`chooser`: Hypothesis (tests/test_property_gradients.py) or a seeded
random.Random (`RandomChooser`).

Domains and kinks by construction: tests/gradcheck.py draws a real input
entry with |x| in [0.5, 1.5], a positive one in [0.5, 1.5], an "spd" matrix
with eigenvalues >= 1 and entries in [-1, 2]. Every expression carries a
sound enclosure of its entries' values for all such inputs (`Val`: a union
of intervals, and for square matrices a lower bound on the eigenvalues of
the symmetric part), computed by interval arithmetic as it is built. An
operation is used only where its enclosure shows it is inside its domain
(log, sqrt and fractional powers of values >= 0.1, division by values at
least 0.2 from 0, inverses and determinants of matrices with a positive
definite symmetric part) and at least MARGIN away from its kinks (relu,
abs, sign, max, min, hardtanh, leaky_relu, elu, norms at 0); where it is
not, its argument is shifted by a constant until it is, or another
operation is chosen. Ids (`input w : {0..V-1}^k`) are drawn in range by
tests/gradcheck.py and are never differentiated. Values stay within BOUND, so that finite differences
stay accurate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MAX_DEPTH = 8
MARGIN = 0.02     # how far every kink stays from the values around it
POSITIVE = 0.1    # the least argument of log, sqrt, fractional powers
DIVISOR = 0.2     # the least |divisor|
BOUND = 50.0      # the largest |value| of any expression
WIDEN = 1e-4      # inputs' enclosures are widened by this: finite-difference steps leave them a little

# ----------------------------------------------------------- enclosures


def _normalize(parts, limit: int = 4) -> tuple[tuple[float, float], ...]:
    parts = sorted((min(a, b), max(a, b)) for a, b in parts)
    merged: list[list[float]] = []
    for lo, hi in parts:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    while len(merged) > limit:  # join the two nearest parts
        k = min(range(len(merged) - 1), key=lambda i: merged[i + 1][0] - merged[i][1])
        merged[k:k + 2] = [[merged[k][0], merged[k + 1][1]]]
    return tuple((lo, hi) for lo, hi in merged)


class Reject(Exception):
    """The expression would leave a domain, come near a kink, or grow too large."""


@dataclass(frozen=True)
class Val:
    """Every entry's value lies in one of `parts` (closed intervals); for a
    square matrix, `pd` (when not None) bounds the eigenvalues of its
    symmetric part from below."""

    parts: tuple[tuple[float, float], ...]
    pd: float | None = None

    @staticmethod
    def of(*parts, pd=None) -> "Val":
        value = Val(_normalize(parts), pd)
        if not all(math.isfinite(x) for part in value.parts for x in part) or value.maxabs > BOUND:
            raise Reject("too large")
        return value

    @property
    def lo(self) -> float:
        return self.parts[0][0]

    @property
    def hi(self) -> float:
        return self.parts[-1][1]

    @property
    def maxabs(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    @property
    def minabs(self) -> float:
        """The least |entry| (0 when a part holds 0)."""
        return min(0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)) for lo, hi in self.parts)

    def avoids(self, point: float, margin: float = MARGIN) -> bool:
        return all(hi < point - margin or lo > point + margin for lo, hi in self.parts)

    def map(self, f) -> "Val":
        return Val.of(*(f(lo, hi) for lo, hi in self.parts))

    def pairs(self, other: "Val", f) -> "Val":
        return Val.of(*(f(a, b) for a in self.parts for b in other.parts))


def _increasing(f):
    return lambda lo, hi: (f(lo), f(hi))


def _product(a, b):
    products = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    return min(products), max(products)


def _power(k: float):
    """x^k on an interval (x > 0 unless k is an integer; 0 excluded for k < 0)."""
    def f(lo, hi):
        if k == int(k) and lo < 0:
            values = [lo ** k, hi ** k] + ([0.0] if lo <= 0 <= hi else [])
            return min(values), max(values)
        return (lo ** k, hi ** k) if k >= 0 else (hi ** k, lo ** k)
    return f


def _gelu(x: float) -> float:
    return x * 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _sin(lo, hi):
    return (math.sin(lo), math.sin(hi)) if -math.pi / 2 <= lo and hi <= math.pi / 2 else (-1.0, 1.0)


def _cos(lo, hi):
    if 0 <= lo and hi <= math.pi:
        return math.cos(hi), math.cos(lo)
    if -math.pi <= lo and hi <= 0:
        return math.cos(lo), math.cos(hi)
    return -1.0, 1.0


def _gelu_range(lo, hi):
    if lo >= -0.75:
        return _gelu(lo), _gelu(hi)
    if hi <= -0.75:
        return _gelu(hi), _gelu(lo)
    return -0.1701, max(_gelu(lo), _gelu(hi), 0.0)


def _sigmoid(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def require(condition: bool, why: str):
    if not condition:
        raise Reject(why)


# Elementwise functions of one argument: (its enclosure, the points it may not come near).
UNARY = {
    "exp": (lambda v: v.map(_increasing(math.exp)), ()),
    "log": (lambda v: (require(v.lo >= POSITIVE, "log"), v.map(_increasing(math.log)))[1], ()),
    "sqrt": (lambda v: (require(v.lo >= POSITIVE, "sqrt"), v.map(_increasing(math.sqrt)))[1], ()),
    "abs": (lambda v: v.map(lambda lo, hi: (min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))), (0.0,)),
    "sign": (lambda v: v.map(lambda lo, hi: (math.copysign(1, lo), math.copysign(1, lo))), (0.0,)),
    "sin": (lambda v: v.map(_sin), ()),
    "cos": (lambda v: v.map(_cos), ()),
    "tan": (lambda v: (require(v.maxabs <= 1.2, "tan"), v.map(_increasing(math.tan)))[1], ()),
    "tanh": (lambda v: v.map(_increasing(math.tanh)), ()),
    "sigmoid": (lambda v: v.map(_increasing(_sigmoid)), ()),
    "relu": (lambda v: v.map(lambda lo, hi: (max(lo, 0.0), max(hi, 0.0))), (0.0,)),
    "softplus": (lambda v: v.map(_increasing(_softplus)), ()),
    "gelu": (lambda v: v.map(_gelu_range), ()),
    "hardtanh": (lambda v: v.map(lambda lo, hi: (min(max(lo, -1), 1), min(max(hi, -1), 1))), (-1.0, 1.0)),
}
# Every spelling of a function: its name, or a name that means the same.
SPELLINGS = {"sigmoid": ["sigmoid", "σ"]}


# ----------------------------------------------------------- expressions

Shape = tuple  # (rows, cols): a dimension name or an int
SCALAR = (1, 1)


@dataclass
class E:
    """An expression: operation, operands, extra data, its text and shape.
    Its enclosure is computed by `value` in an environment of names."""

    op: str
    kids: tuple = ()
    data: object = None
    text: str = ""
    shape: Shape = SCALAR


@dataclass
class Function:
    name: str
    params: tuple[str, ...]
    body: E


@dataclass
class Variable:
    name: str
    kind: str        # param, input, const
    shape: Shape
    domain: str      # real, positive, spd


@dataclass
class Model:
    """A generated model: its text, the sizes of its dimensions, each
    variable's domain for tests/gradcheck.draw, its grad targets."""

    text: str
    sizes: dict[str, int]
    domains: dict[str, str]
    targets: list[str]
    vector_1d: bool
    seed: int
    made: frozenset = frozenset()   # the generator's forms it holds (matpow, gather, ...)


class Context:
    """What a model has so far, as it is generated."""

    def __init__(self, chooser, sizes: dict[str, int]):
        self.choose = chooser
        self.sizes = sizes
        self.variables: dict[str, Variable] = {}
        self.definitions: dict[str, E] = {}
        self.functions: dict[str, Function] = {}
        self.statements: list[str] = []
        self.env: dict[str, Val] = {}      # name -> enclosure (variables, definitions, consts, dims)
        self.consts: dict[str, float] = {}  # const NAME = NUMBER
        self.const_env: dict[str, Val] = {}
        self.defined_before: set[str] = set()  # the functions a body being generated may call
        self.compound: list[str] = []      # the dimension expressions this model's shapes may use
        self.ids: dict[str, object] = {}    # a variable of ids -> its count C (ids in 0..C-1)
        self.made: set[str] = set()          # the forms made so far
        self.budget = 0
        self.counter = 0

    def size(self, dim) -> int:
        """A dimension's size: an int, a name, or an expression as written
        in a type: a sum of products of names and integers (`n + m`, `2 n`)."""
        if isinstance(dim, int):
            return dim
        return sum(math.prod(int(f) if f.isdigit() else self.sizes[f] for f in term.split())
                   for term in dim.split(" + "))

    def count(self, shape: Shape) -> int:
        return self.size(shape[0]) * self.size(shape[1])

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


def is_scalar(shape: Shape) -> bool:
    return shape == SCALAR


def is_name(dim) -> bool:
    """A dimension that is one name (not an int, not an expression)."""
    return isinstance(dim, str) and dim.isidentifier()


def transposed(shape: Shape) -> Shape:
    return (shape[1], shape[0])


# ----------------------------------------------------------- enclosure rules

def value(e: E, ctx: Context, env: dict[str, Val]) -> Val:
    """The enclosure of e's entries; Reject where e would leave a domain or
    come near a kink."""
    op, kids = e.op, e.kids
    if op == "name":
        return env[e.data]
    if op == "number":
        return Val.of((e.data, e.data))
    args = [value(k, ctx, env) for k in kids]
    if op in UNARY:
        rule, kinks = UNARY[op]
        require(all(args[0].avoids(k) for k in kinks), f"{op} near a kink")
        return rule(args[0])
    if op == "neg":
        return Val.of(*((-hi, -lo) for lo, hi in args[0].parts))
    if op in ("add", "sub"):
        a, b = args
        if op == "sub":
            b = Val(tuple((-hi, -lo) for lo, hi in reversed(b.parts)), None)
        pd = None
        if e.shape[0] == e.shape[1] and not is_scalar(e.shape):
            square = [x.pd for x, k in zip((a, b), kids) if not is_scalar(k.shape)]
            scalars_ok = all(x.lo >= 0 for x, k in zip((a, b), kids) if is_scalar(k.shape))
            if len(square) == len([k for k in kids if not is_scalar(k.shape)]) and None not in square \
                    and scalars_ok and all(k.shape == e.shape or is_scalar(k.shape) for k in kids):
                pd = sum(square)
        result = a.pairs(b, lambda p, q: (p[0] + q[0], p[1] + q[1]))
        return Val(result.parts, pd)
    if op == "mul":  # elementwise, or scaling by a scalar
        a, b = args
        result = a.pairs(b, _product)
        pd = None
        for x, y, k in ((a, b, kids[1]), (b, a, kids[0])):
            if is_scalar(k.shape) and x.pd is not None and y.lo > 0:
                pd = x.pd * y.lo
        return Val(result.parts, pd)
    if op == "div":
        a, b = args
        require(b.avoids(0.0, DIVISOR), "division near 0")
        return a.pairs(b, lambda p, q: _product(p, (1 / q[1], 1 / q[0])))
    if op == "pow":  # data: the exponent's kind
        base, exponent = args
        if kids[1].op == "number" and float(kids[1].data).is_integer():
            k = kids[1].data
            if k < 0:
                require(base.avoids(0.0, DIVISOR), "negative power near 0")
            return base.map(_power(k))
        require(base.lo >= POSITIVE and base.hi <= 8, "fractional power of a value not positive")
        logs = base.map(_increasing(math.log))
        return logs.pairs(exponent, lambda p, q: _increasing(math.exp)(*_product(p, q)))
    if op == "matmul":
        a, b = args
        inner = ctx.size(kids[0].shape[1])
        if inner == 1:
            result = a.pairs(b, _product)
        else:
            lo, hi = _product((a.lo, a.hi), (b.lo, b.hi))
            result = Val.of((inner * lo, inner * hi))
        return Val(result.parts, 0.0 if e.data == "gram" else None)  # X Xᵀ is positive semidefinite
    if op == "transpose":
        return args[0]
    if op in ("sum", "mean", "tr"):
        a = args[0]
        count = ctx.count(kids[0].shape) if op == "sum" else ctx.size(kids[0].shape[0]) if op == "tr" else 1
        return Val.of((count * a.lo, count * a.hi))
    if op in ("norm", "sqnorm", "norm1"):
        a = args[0]
        require(op == "sqnorm" or a.minabs >= MARGIN, f"{op} near 0")
        count = ctx.count(kids[0].shape)
        if op == "norm":
            return Val.of((math.sqrt(count) * a.minabs, math.sqrt(count) * a.maxabs))
        if op == "sqnorm":
            return Val.of((count * a.minabs ** 2, count * a.maxabs ** 2))
        return Val.of((count * a.minabs, count * a.maxabs))
    if op in ("softmax", "log_softmax", "logsumexp"):
        a = args[0]
        rows = ctx.size(kids[0].shape[0])
        spread = a.hi - a.lo
        if op == "softmax":
            return Val.of((1 / (1 + (rows - 1) * math.exp(spread)), 1 / (1 + (rows - 1) * math.exp(-spread))))
        if op == "log_softmax":
            return Val.of((-spread - math.log(rows), min(0.0, spread - math.log(rows))))
        return Val.of((a.lo + math.log(rows), a.hi + math.log(rows)))
    if op in ("inv", "det", "logdet"):
        a = args[0]
        require(a.pd is not None and a.pd >= 0.3, f"{op} of a matrix not surely invertible")
        n = ctx.size(kids[0].shape[0])
        if op == "inv":
            return Val.of((-1 / a.pd, 1 / a.pd))
        top = (math.sqrt(n) * a.maxabs) ** n
        if op == "det":
            return Val.of((a.pd ** n, top))
        return Val.of((n * math.log(a.pd), math.log(top)))
    if op == "diag_matrix":
        a = args[0]
        return Val(Val.of(*a.parts, (0.0, 0.0)).parts, a.lo if a.lo > 0 else None)
    if op == "diag_vector":
        a = args[0]
        return Val.of((max(a.lo, a.pd), a.hi)) if a.pd is not None else a
    if op in ("max", "min"):
        a, b = args
        difference = a.pairs(b, lambda p, q: (p[0] - q[1], p[1] - q[0]))
        require(difference.avoids(0.0), f"{op} near a tie")
        pick = max if op == "max" else min
        return a.pairs(b, lambda p, q: (pick(p[0], q[0]), pick(p[1], q[1])))
    if op in ("leaky_relu", "elu"):
        z, a = args
        require(z.avoids(0.0), f"{op} near 0")
        parts = [part for part in z.parts if part[0] > 0]
        negative = [part for part in z.parts if part[1] < 0]
        for part in negative:
            scaled = part if op == "leaky_relu" else (math.expm1(part[0]), math.expm1(part[1]))
            parts += [_product(scaled, q) for q in a.parts]
        return Val.of(*parts)
    if op == "ids":
        return Val.of((0.0, 0.0))          # never a value: ids only select
    if op in ("gather", "block", "vec", "pick", "vstack", "hstack"):   # entries of their operands
        return Val.of(*(part for a, k in zip(args, kids) if k.op != "ids" for part in a.parts))
    if op == "onehot":
        return Val.of((0.0, 0.0), (1.0, 1.0))
    if op == "ones":
        return Val.of((1.0, 1.0))
    if op in ("rowsum", "colsum"):
        count = ctx.size(kids[0].shape[1] if op == "rowsum" else kids[0].shape[0])
        return Val.of((count * args[0].lo, count * args[0].hi))
    if op in ("rowmean", "colmean"):
        return args[0]
    if op == "matpow":                  # A^k: |entries| <= n^(k-1) max|A|^k; A^-k = (A⁻¹)^k
        a, k, n = args[0], e.data, ctx.size(kids[0].shape[0])
        if k == 0:
            return Val.of((0.0, 1.0))
        if k < 0:
            require(a.pd is not None and a.pd >= 0.3, "a negative power of a matrix not surely invertible")
        top = 1 / a.pd if k < 0 else a.maxabs
        bound = n ** (abs(k) - 1) * top ** abs(k)
        return Val.of((-bound, bound)) if abs(k) > 1 or k < 0 else a
    if op == "apply":
        function = ctx.functions[e.data]
        return value(function.body, ctx, {**ctx.const_env, **dict(zip(function.params, args))})
    raise AssertionError(f"no enclosure rule for {op}")


# ---------------------------------------------------------------- choices

class RandomChooser:
    """The chooser interface over random.Random (the property test uses
    Hypothesis's; see tests/test_property_gradients.py)."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)

    def pick(self, options: list):
        return self.random.choice(options)

    def integer(self, lo: int, hi: int) -> int:
        return self.random.randint(lo, hi)

    def chance(self, p: float) -> bool:
        return self.random.random() < p

    def shuffled(self, options: list) -> list:
        options = list(options)
        self.random.shuffle(options)
        return options


NUMBERS = [("2", 2.0), ("0.5", 0.5), (".5", 0.5), ("3", 3.0), ("1e-1", 0.1), ("2.5E+0", 2.5), ("1.5", 1.5),
           ("0.25", 0.25), ("1", 1.0), ("4", 4.0)]
VARIABLE_NAMES = ["W", "V", "x", "y", "b", "u", "v", "A", "B", "θ", "λ", "lambda", "w_1", "z", "h", "X", "Y",
                  "S", "P", "Ω"]
DIM_NAMES = ["n", "m", "k", "N"]
ID_NAMES = ["w", "y", "i", "j", "c", "o", "labels", "wc"]


def number(value: float) -> str:
    """A constant computed by the generator, written to 4 digits."""
    return f"{value:.4g}"


class Generator:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.choose = ctx.choose

    # ------------------------------------------------------------ helpers
    def make(self, op, kids=(), text="", shape=SCALAR, data=None, env=None) -> tuple[E, Val]:
        e = E(op, tuple(kids), data, text, shape)
        enclosure = value(e, self.ctx, self.ctx.env if env is None else env)
        self.ctx.made.add(op)
        return e, enclosure

    def dims(self) -> list:
        return list(self.ctx.sizes) + [2, 3] + self.ctx.compound

    def wrap(self, e: E) -> str:
        return e.text if e.op in ("name", "number") and not e.text.startswith("-") else f"({e.text})"

    # ------------------------------------------------------------- leaves
    def leaf(self, shape: Shape, scope) -> tuple[E, Val]:
        if scope is not None:  # in a function body: its arguments, numbers, consts with a value
            options = [("param", p) for p in scope if p not in self.ctx.consts] + [("number", None)]
            options += [("const", c) for c in self.ctx.consts]
        else:
            options = [("name", n) for n, v in self.ctx.variables.items()
                       if v.shape == shape and n not in self.ctx.ids]
            options += [("name", n) for n, d in self.ctx.definitions.items() if d.shape == shape]
            options += [("new", None)] * 2
            if is_scalar(shape):
                options += [("number", None)] + [("const", c) for c in self.ctx.consts]
                options += [("dim", None)] * bool(self.declared_dims())
        kind, name = self.choose.pick(options)
        env = None if scope is None else scope
        if kind in ("param", "name", "const"):
            return self.make("name", text=name, shape=shape, data=name, env=env)
        if kind == "number":
            text, number_value = self.choose.pick(NUMBERS)
            return self.make("number", text=text, data=number_value, env=env)
        if kind == "dim":
            dim = self.choose.pick(self.declared_dims())
            return self.make("name", text=dim, data=dim)
        return self.variable(shape, self.choose.pick(["real", "real", "positive"]))

    def declared_dims(self) -> list[str]:
        """The dimension names some variable's type uses: they may stand for their size."""
        return sorted({d for v in self.ctx.variables.values() for d in v.shape if is_name(d)})

    def variable(self, shape: Shape, domain: str) -> tuple[E, Val]:
        ctx = self.ctx
        name = self.choose.pick([n for n in VARIABLE_NAMES if n not in ctx.env] or [ctx.fresh("q")])
        kind = self.choose.pick(["param", "param", "input", "const"])
        ctx.variables[name] = Variable(name, kind, shape, domain)
        if domain == "spd":
            ctx.env[name] = Val.of((-1 - WIDEN, 2 + WIDEN), pd=1.0 - WIDEN)
        elif domain == "positive":
            ctx.env[name] = Val.of((0.5 - WIDEN, 1.5 + WIDEN))
        else:
            ctx.env[name] = Val.of((-1.5 - WIDEN, -0.5 + WIDEN), (0.5 - WIDEN, 1.5 + WIDEN))
        return self.make("name", text=name, shape=shape, data=name)

    # ---------------------------------------------------------- expressions
    def expression(self, shape: Shape, depth: int, scope=None) -> tuple[E, Val]:
        """A random expression of this shape, at most `depth` deep. `scope`:
        a function body's arguments (then only elementwise operations)."""
        ctx = self.ctx
        if depth <= 0 or ctx.budget <= 0:
            return self.leaf(shape, scope)
        ctx.budget -= 1
        kinds = ["unary", "unary", "binary", "binary", "binary", "negate", "kinked", "kinked", "power",
                 "division", "call", "stable"]
        if scope is None:
            kinds += ["matmul", "matmul", "scale", "transpose", "classify", "structure", "define", "gather",
                      "block", "stack", "vec", "pick", "onehot", "matrix_power", "axis"]
            if is_scalar(shape):
                kinds += ["reduce", "reduce", "reduce"]
        for kind in self.choose.shuffled(kinds):
            try:
                made = getattr(self, f"make_{kind}")(shape, depth - 1, scope)
            except Reject:
                continue
            if made is not None:
                return made
        return self.leaf(shape, scope)

    def operand_shapes(self, shape: Shape, scope) -> list[Shape]:
        """Shapes that broadcast to `shape` with one of `shape` itself: the
        same, a scalar, and for a matrix its column and row."""
        if scope is not None or is_scalar(shape):
            return [shape]
        options = [shape, shape, SCALAR]
        rows, cols = shape
        if rows != 1 and cols != 1:
            options += [(rows, 1), (1, cols)]
        return options

    def pair(self, shape: Shape, depth: int, scope) -> tuple[tuple[E, Val], tuple[E, Val]]:
        other = self.choose.pick(self.operand_shapes(shape, scope))
        first = self.expression(shape, depth, scope)
        second = self.expression(other, self.choose.integer(0, depth), scope)
        return (first, second) if self.choose.chance(0.5) else (second, first)

    def env(self, scope):
        return self.ctx.env if scope is None else scope

    def make_unary(self, shape, depth, scope):
        name = self.choose.pick(sorted(n for n in UNARY if n not in ("abs", "sign", "relu", "hardtanh")))
        a, _ = self.positive(shape, depth, scope) if name in ("log", "sqrt") else self.expression(shape, depth, scope)
        spelled = self.choose.pick(SPELLINGS.get(name, [name]))
        return self.make(name, [a], f"{spelled}({a.text})", shape, env=self.env(scope))

    def make_binary(self, shape, depth, scope):
        (a, _), (b, _) = self.pair(shape, depth, scope)
        op = self.choose.pick(["add", "sub", "mul"])
        symbol = {"add": "+", "sub": "-", "mul": self.choose.pick(["∘", "⊙", ".*"])}[op]
        return self.make(op, [a, b], f"{self.wrap(a)} {symbol} {self.wrap(b)}", shape, env=self.env(scope))

    def make_negate(self, shape, depth, scope):
        (a, _) = self.expression(shape, depth, scope)
        return self.make("neg", [a], f"-{self.wrap(a)}", shape, env=self.env(scope))

    def shifted(self, e: E, v: Val, points: tuple[float, ...], scope) -> E:
        """e, or e plus a constant, so that v (e's enclosure, or that of what
        e is compared with) shifted by it avoids every point."""
        if all(v.avoids(p) for p in points):
            return e
        candidates = [0.0]
        for point in points:
            for lo, hi in v.parts:
                candidates += [point - hi - 2 * MARGIN, point - lo + 2 * MARGIN]
            for (_, hi), (lo, _) in zip(v.parts, v.parts[1:]):
                candidates.append(point - (hi + lo) / 2)
        good = [c for c in candidates if all(Val.of(*((lo + c, hi + c) for lo, hi in v.parts)).avoids(p)
                                            for p in points)]
        require(bool(good), "no shift avoids the kinks")
        shift = float(number(self.choose.pick(good)))
        if not all(Val.of(*((lo + shift, hi + shift) for lo, hi in v.parts)).avoids(p) for p in points):
            raise Reject("rounded shift")
        return self.plus(e, shift, scope)[0]

    def plus(self, e: E, c: float, scope) -> tuple[E, Val]:
        """e + c (c already rounded as written)."""
        text = f"{self.wrap(e)} + {number(c)}" if c >= 0 else f"{self.wrap(e)} - {number(-c)}"
        return self.make("add", [e, E("number", (), c, number(c))], text, e.shape, env=self.env(scope))

    def make_kinked(self, shape, depth, scope):
        env = self.env(scope)
        name = self.choose.pick(["abs", "sign", "relu", "hardtanh", "max", "min", "leaky_relu", "elu"])
        a, va = self.expression(shape, depth, scope)
        if name in ("abs", "sign", "relu", "hardtanh"):
            a = self.shifted(a, va, (-1.0, 1.0) if name == "hardtanh" else (0.0,), scope)
            return self.make(name, [a], f"{name}({a.text})", shape, env=env)
        if name in ("leaky_relu", "elu"):
            a = self.shifted(a, va, (0.0,), scope)
            if self.choose.chance(0.4):
                default = 0.01 if name == "leaky_relu" else 1.0
                slope = E("number", (), default, number(default))
                return self.make(name, [a, slope], f"{name}({a.text})", shape, env=env)
            other = self.choose.pick(self.operand_shapes(shape, scope))
            slope, _ = self.expression(other, self.choose.integer(0, depth), scope)
            return self.make(name, [a, slope], f"{name}({a.text}, {slope.text})", shape, env=env)
        other = self.choose.pick(self.operand_shapes(shape, scope))
        b, vb = self.expression(other, self.choose.integer(0, depth), scope)
        # b + c, with (b + c) - a away from 0: no tie
        b = self.shifted(b, vb.pairs(va, lambda p, q: (p[0] - q[1], p[1] - q[0])), (0.0,), scope)
        first, second = (a, b) if self.choose.chance(0.5) else (b, a)
        return self.make(name, [first, second], f"{name}({first.text}, {second.text})", shape, env=env)

    def positive(self, shape: Shape, depth: int, scope) -> tuple[E, Val]:
        """An expression whose entries are all at least POSITIVE."""
        e, v = self.expression(shape, depth, scope)
        if v.lo >= POSITIVE:
            return e, v
        how = self.choose.pick(["shift", "square", "exp"])
        env = self.env(scope)
        if how == "exp" and -2.0 <= v.lo and v.hi <= 3:
            return self.make("exp", [e], f"exp({e.text})", shape, env=env)
        if how == "square":
            square, vs = self.make("pow", [e, E("number", (), 2.0, "2")], f"{self.wrap(e)} .^ 2", shape, env=env)
            return self.plus(square, float(number(POSITIVE + 0.1 * self.choose.integer(0, 10))), scope)
        return self.plus(e, float(number(POSITIVE - v.lo + 0.05 + 0.1 * self.choose.integer(0, 10))), scope)

    def make_power(self, shape, depth, scope):
        env = self.env(scope)
        elementwise = not is_scalar(shape) or self.choose.chance(0.3)
        caret = ".^" if elementwise else "^"
        kind = self.choose.pick(["integer", "integer", "fraction", "negative", "expression"])
        if kind == "integer":
            base, _ = self.expression(shape, depth, scope)
            k = self.choose.pick([2, 3])
            return self.make("pow", [base, E("number", (), float(k), str(k))], f"{self.wrap(base)}{caret}{k}",
                             shape, env=env)
        if kind == "negative":
            base, vb = self.expression(shape, depth, scope)
            require(vb.avoids(0.0, DIVISOR), "negative power near 0")
            k = self.choose.pick([-1, -2])
            exponent = self.choose.pick([f"{k}", f"({k})", f"{{{k}}}"])
            return self.make("pow", [base, E("number", (), float(k), str(k))], f"{self.wrap(base)}{caret}{exponent}",
                             shape, env=env)
        if kind == "fraction":
            base, _ = self.positive(shape, depth, scope)
            text, k = self.choose.pick([("0.5", 0.5), ("1.5", 1.5), ("-0.5", -0.5), (".5", 0.5)])
            exponent = text if not text.startswith("-") or not elementwise else f"({text})"
            return self.make("pow", [base, E("number", (), k, text)], f"{self.wrap(base)}{caret}{exponent}", shape,
                             env=env)
        # an expression as the exponent; a scalar base may be raised to any shape (2^x)
        base_shape = SCALAR if (not elementwise or self.choose.chance(0.3)) else shape
        exponent_shape = shape if base_shape == SCALAR else self.choose.pick(self.operand_shapes(shape, scope))
        if base_shape == SCALAR and not is_scalar(shape):
            caret = "^"
        base, _ = self.positive(base_shape, depth, scope)
        exponent, ve = self.expression(exponent_shape, self.choose.integer(0, depth), scope)
        require(ve.maxabs <= 3, "a large exponent")
        written = self.choose.pick([f"({exponent.text})", f"{{{exponent.text}}}"])
        if exponent.op == "name":
            written = exponent.text
        return self.make("pow", [base, exponent], f"{self.wrap(base)}{caret}{written}", shape, env=env)

    def make_division(self, shape, depth, scope):
        env = self.env(scope)
        shapes = [shape, self.choose.pick(self.operand_shapes(shape, scope))]
        if self.choose.chance(0.5):
            shapes.reverse()  # either side may be the one of full shape
        numerator, _ = self.expression(shapes[0], depth, scope)
        divisor, vd = self.expression(shapes[1], self.choose.integer(0, depth), scope)
        if not vd.avoids(0.0, DIVISOR):
            if self.choose.chance(0.5):
                divisor, vd = self.positive(shapes[1], 0, scope)
            else:
                divisor, vd = self.plus(divisor, float(number(DIVISOR - vd.lo + 0.05)), scope)
        slash = self.choose.pick(["/", "./"])
        return self.make("div", [numerator, divisor], f"{self.wrap(numerator)} {slash} {self.wrap(divisor)}", shape,
                         env=env)

    def make_call(self, shape, depth, scope):
        ctx = self.ctx
        callable_ = [f for f in ctx.functions.values() if scope is None or f.name not in scope]
        if scope is not None:  # a body calls only the functions defined before its own
            callable_ = [f for f in callable_ if f.name in ctx.defined_before]
        if not callable_ or self.choose.chance(0.3) and scope is None and len(ctx.functions) < 3:
            if scope is not None:
                return None
            function = self.function()
        else:
            function = self.choose.pick(callable_)
        full = self.choose.integer(0, len(function.params) - 1)
        args = []
        for index in range(len(function.params)):
            arg_shape = shape if index == full else self.choose.pick(self.operand_shapes(shape, scope))
            if arg_shape != shape and any(a.shape != shape and not is_scalar(a.shape) and a.shape != arg_shape
                                          for a in args):
                arg_shape = SCALAR  # a column and a row of the matrix do not broadcast together (a call folds them)
            args.append(self.expression(arg_shape, self.choose.integer(0, depth), scope)[0])
        return self.make("apply", args, f"{function.name}({', '.join(a.text for a in args)})", shape,
                         data=function.name, env=self.env(scope))

    def function(self) -> Function:
        """A new user function f(t, ...) = a scalar formula of its arguments,
        checked at the usual inputs (its calls are checked at their own)."""
        ctx = self.ctx
        name = ctx.fresh("f")
        params = tuple(self.choose.pick([["t"], ["t", "s"], ["p", "q", "r"]]))
        scope = {**ctx.const_env, **{p: Val.of((-1.5 - WIDEN, 1.5 + WIDEN)) for p in params}}
        saved, ctx.budget = ctx.budget, 4
        ctx.defined_before = set(ctx.functions)
        try:
            body, _ = self.expression(SCALAR, self.choose.integer(1, 3), scope)
        finally:
            ctx.budget = saved
        function = Function(name, params, body)
        ctx.functions[name] = function
        ctx.statements.append(f"{name}({', '.join(params)}) = {body.text}")
        return function

    def make_stable(self, shape, depth, scope):
        """A formula lowering rewrites to a stable form."""
        env = self.env(scope)
        form = self.choose.pick(["softplus", "log_sigmoid", "log_one_minus_sigmoid", "sigmoid", "log_softmax"])
        if form == "log_softmax":
            if scope is not None or is_scalar(shape) and self.choose.chance(0.7):
                return None
            a, _ = self.expression(shape, depth, scope)
            return self.make("log_softmax", [a], f"log(softmax({a.text}))", shape, env=env)
        a, va = self.expression(shape, depth, scope)
        if form == "softplus":
            return self.make("softplus", [a], f"log(1 + exp({a.text}))", shape, env=env)
        if form == "sigmoid":
            return self.make("sigmoid", [a], f"1 / (1 + exp(-{self.wrap(a)}))", shape, env=env)
        if form == "log_sigmoid":
            return self.make("neg", [self.make("softplus", [self.make("neg", [a], "", shape, env=env)[0]], "",
                                               shape, env=env)[0]], f"log(σ({a.text}))", shape, env=env)
        return self.make("neg", [self.make("softplus", [a], "", shape, env=env)[0]],
                         f"log(1 - sigmoid({a.text}))", shape, env=env)

    # --------------------------------------------- matrix operations (not in a body)
    def make_matmul(self, shape, depth, scope):
        rows, cols = shape
        inner = self.choose.pick(self.dims() + [1])
        a, _ = self.expression((rows, inner), depth, scope)
        b, _ = self.expression((inner, cols), self.choose.integer(0, depth), scope)
        if (rows, inner) == SCALAR or (inner, cols) == SCALAR:
            op = "mul"  # a scalar factor scales
        else:
            op = "matmul"
        symbol = self.choose.pick([" ", " * ", " @ "])
        return self.make(op, [a, b], f"{self.wrap(a)}{symbol}{self.wrap(b)}", shape)

    def make_scale(self, shape, depth, scope):
        if is_scalar(shape):
            return None
        c, _ = self.expression(SCALAR, self.choose.integer(0, depth), scope)
        a, _ = self.expression(shape, depth, scope)
        symbol = self.choose.pick([" ", " * ", " ∘ "])
        first, second = (c, a) if self.choose.chance(0.7) else (a, c)
        return self.make("mul", [first, second], f"{self.wrap(first)}{symbol}{self.wrap(second)}", shape)

    def make_transpose(self, shape, depth, scope):
        a, _ = self.expression(transposed(shape), depth, scope)
        if a.op == "number":  # a transposed number literal (1ᵀ) is an error of the model
            return None
        mark = self.choose.pick(["^T", "'", "ᵀ"])
        return self.make("transpose", [a], f"{self.wrap(a)}{mark}", shape)

    def make_classify(self, shape, depth, scope):
        rows, cols = shape
        if rows == 1 and self.choose.chance(0.8):  # logsumexp: a scalar, or a row of a matrix's columns
            height = self.choose.pick(self.dims())
            a, _ = self.expression((height, cols), depth, scope)
            return self.make("logsumexp", [a], f"logsumexp({a.text})", shape)
        op = self.choose.pick(["softmax", "log_softmax"])
        a, _ = self.expression(shape, depth, scope)
        return self.make(op, [a], f"{op}({a.text})", shape)

    def make_structure(self, shape, depth, scope, kind=None):
        rows, cols = shape
        if rows == cols and not is_scalar(shape):
            kind = kind or self.choose.pick(["inv", "diag_matrix", "pd"])
            if kind == "inv":
                a, _ = self.pd_matrix(rows, depth)
                written = self.choose.pick([f"inv({a.text})", f"{self.wrap(a)}^-1", f"{self.wrap(a)}^(-1)",
                                            f"{self.wrap(a)}^{{-1}}"])
                return self.make("inv", [a], written, shape)
            if kind == "pd":
                return self.pd_matrix(rows, depth)
            v, _ = self.expression((rows, 1), depth, scope)
            return self.make("diag_matrix", [v], f"diag({v.text})", shape)
        if cols == 1 and rows != 1:
            n = rows
            a, _ = self.expression((n, n), depth, scope) if self.choose.chance(0.5) else self.pd_matrix(n, depth)
            return self.make("diag_vector", [a], f"diag({a.text})", shape)
        return None

    def pd_matrix(self, n, depth) -> tuple[E, Val]:
        """A square matrix whose symmetric part is positive definite."""
        shape = (n, n)
        kind = self.choose.pick(["variable", "variable", "gram", "sum", "scaled", "diag"] if depth > 0
                                else ["variable"])
        if kind == "gram":
            inner = self.choose.pick(self.dims())
            x, _ = self.expression((n, inner), depth - 1, None)
            gram = E("matmul", (x, E("transpose", (x,), None, "", (inner, n))), "gram",
                     f"{self.wrap(x)} {self.wrap(x)}^T", shape)
            rest, _ = self.pd_matrix(n, depth - 1)
            return self.make("add", [gram, rest], f"({gram.text}) + {self.wrap(rest)}", shape)
        if kind == "sum":
            a, _ = self.pd_matrix(n, depth - 1)
            b, _ = self.pd_matrix(n, depth - 1)
            return self.make("add", [a, b], f"{self.wrap(a)} + {self.wrap(b)}", shape)
        if kind == "scaled":
            a, _ = self.pd_matrix(n, depth - 1)
            c, _ = self.positive(SCALAR, 0, None)
            return self.make("mul", [c, a], f"{self.wrap(c)} {self.wrap(a)}", shape)
        if kind == "diag":
            v, _ = self.positive((n, 1), depth - 1, None)
            return self.make("diag_matrix", [v], f"diag({v.text})", shape)
        reuse = [name for name, v in self.ctx.variables.items() if v.shape == shape and v.domain == "spd"]
        if reuse and self.choose.chance(0.5):
            name = self.choose.pick(reuse)
            return self.make("name", text=name, shape=shape, data=name)
        return self.variable(shape, "spd")

    def make_reduce(self, shape, depth, scope):
        kind = self.choose.pick(["sum", "mean", "norm", "sqnorm", "norm1", "inner", "square", "logsumexp",
                                 "selection"])
        if kind in ("inner",):
            return self.make_matmul(shape, depth, scope)
        if kind == "selection":    # sum(onehot(y, C) ∘ X): the entries the labels select
            rows, cols = self.id_count(), self.id_count()
            mask, _ = self.make_onehot((rows, cols), depth, scope, alone=True)
            x, _ = self.expression((rows, cols), depth, scope)
            selected = self.make("mul", [mask, x], f"{mask.text} ∘ {self.wrap(x)}", (rows, cols))[0]
            return self.make("sum", [selected], f"sum({selected.text})", shape)
        if kind == "square":  # tr, det, logdet; and a sum of an inverse
            n = self.choose.pick(self.dims())
            op = self.choose.pick(["tr", "det", "logdet", "inverse"])
            if op == "inverse":
                inverse = self.make_structure((n, n), depth, scope, "inv")
                return self.make("sum", [inverse[0]], f"sum({inverse[0].text})", shape)
            a, _ = self.pd_matrix(n, depth) if op != "tr" or self.choose.chance(0.3) else \
                self.expression((n, n), depth, scope)
            return self.make(op, [a], f"{op}({a.text})", shape)
        if kind == "logsumexp":
            a, _ = self.expression((self.choose.pick(self.dims()), 1), depth, scope)
            return self.make("logsumexp", [a], f"logsumexp({a.text})", shape)
        arg_shape = self.random_shape()
        a, va = self.expression(arg_shape, depth, scope)
        if kind in ("norm", "norm1") and va.minabs < MARGIN:
            a = self.shifted(a, va, (0.0,), scope)
        inner = f"({a.text})" if a.op in ("norm", "sqnorm") else a.text  # a norm right inside a norm
        if kind == "norm":
            return self.make("norm", [a], f"||{inner}||", shape)
        if kind == "sqnorm":
            written = self.choose.pick([f"||{inner}||^2", f"(||{inner}||)^2"])
            return self.make("sqnorm", [a], written, shape)
        return self.make(kind, [a], f"{kind}({a.text})", shape)

    # ---------------------------------------- indexing and blocks (#12; not in a body)
    def ids(self, count, length) -> E:
        """A variable of ids in 0..count-1: `length` of them (a vector), or one id (length None)."""
        ctx = self.ctx
        reuse = [n for n, c in ctx.ids.items() if c == count and ctx.variables[n].shape == (length or 1, 1)]
        if reuse and self.choose.chance(0.5):
            name = self.choose.pick(reuse)
        else:
            name = self.choose.pick([n for n in ID_NAMES if n not in ctx.env and n not in ctx.sizes]
                                    or [ctx.fresh("ids")])
            ctx.variables[name] = Variable(name, "input", (length or 1, 1), "ids")
            ctx.ids[name] = count
            ctx.env[name] = Val.of((0.0, 0.0))
        return E("ids", (), name, name, (length or 1, 1))

    def id_count(self):
        return self.choose.pick([d for d in self.dims() if is_name(d) or isinstance(d, int)])

    def make_gather(self, shape, depth, scope):
        """A[:, w], A[w, :], x[w] (vectors of ids), A[:, i], A[i, :], x[i], A[i, j] (single ids)."""
        if scope is not None:
            return None
        rows, cols = shape
        count = self.id_count()
        forms = []
        if is_scalar(shape):
            forms += ["entry", "column entry"]
        elif cols == 1:
            forms += ["rows of a column", "column"] if is_name(rows) or isinstance(rows, int) else ["column"]
        elif rows == 1:
            forms += ["row"]
        if not is_scalar(shape) and (is_name(cols) or isinstance(cols, int)) and cols != 1:
            forms.append("columns")
        if not is_scalar(shape) and (is_name(rows) or isinstance(rows, int)) and rows != 1 and cols != 1:
            forms.append("rows")
        if not forms:
            return None
        form = self.choose.pick(forms)
        if form == "columns":                    # L[:, w]: n×V -> n×k
            a, _ = self.expression((rows, count), depth, scope)
            w = self.ids(count, cols)
            return self.make("gather", [a, w], f"{self.wrap(a)}[:, {w.text}]", shape, data="cols")
        if form == "rows":                       # A[w, :]: V×m -> k×m
            a, _ = self.expression((count, cols), depth, scope)
            w = self.ids(count, rows)
            return self.make("gather", [a, w], f"{self.wrap(a)}[{w.text}, :]", shape, data="rows")
        if form == "rows of a column":           # x[w]: V -> k
            a, _ = self.expression((count, 1), depth, scope)
            w = self.ids(count, rows)
            return self.make("gather", [a, w], f"{self.wrap(a)}[{w.text}]", shape, data="rows")
        if form == "column":                     # A[:, i]: n×V -> n
            a, _ = self.expression((rows, count), depth, scope)
            i = self.ids(count, None)
            return self.make("gather", [a, i], f"{self.wrap(a)}[:, {i.text}]", shape, data="cols")
        if form == "row":                        # A[i, :]: V×m -> 1×m
            a, _ = self.expression((count, cols), depth, scope)
            i = self.ids(count, None)
            return self.make("gather", [a, i], f"{self.wrap(a)}[{i.text}, :]", shape, data="rows")
        if form == "column entry":               # x[i]
            a, _ = self.expression((count, 1), depth, scope)
            i = self.ids(count, None)
            return self.make("gather", [a, i], f"{self.wrap(a)}[{i.text}]", shape, data="rows")
        other = self.id_count()                  # A[i, j]
        a, _ = self.expression((count, other), depth, scope)
        i, j = self.ids(count, None), self.ids(other, None)
        return self.make("gather", [a, i, j], f"{self.wrap(a)}[{i.text}, {j.text}]", shape, data="entry")

    def sliced(self, dim):
        """A larger dimension and the bounds of a block of `dim` entries in it:
        (source, "start:stop"), bounds written as dimension expressions."""
        if isinstance(dim, int):   # a source of 2 entries at least: one would be a scalar, not indexed
            start = self.choose.integer(0, 2)
            return max(2, dim + start + self.choose.integer(0, 1)), f"{start}:{dim + start}"
        if not is_name(dim):
            return dim, f"0:{dim}"               # the whole of an expression
        other = self.choose.pick([d for d in self.ctx.sizes if d != dim] or [dim])
        source, bounds = self.choose.pick([
            (f"2 {dim}", f"0:{dim}"), (f"2 {dim}", f"{dim}:2 {dim}"), (f"{dim} + {other}", f"0:{dim}"),
            (f"{other} + {dim}", f"{other}:{other} + {dim}"), (f"{dim} + 1", f"1:{dim} + 1"),
            (dim, f"0:{dim}")])
        return source, bounds

    def make_block(self, shape, depth, scope):
        """z[a:b] of a column, A[a:b, :], A[:, a:b], A[a:b, c:d], an entry x[n - 1] (bounds: dimension expressions)."""
        if scope is not None:
            return None
        rows, cols = shape
        if is_scalar(shape) and self.choose.chance(0.5):    # x[n - 1], A[1, 0]: entries at dimension expressions
            n = self.choose.pick(self.dims())
            a, _ = self.expression((n, 1), depth, scope)
            last = self.choose.pick([f"{n} - 1", "0"]) if not isinstance(n, int) else str(n - 1)
            return self.make("block", [a], f"{self.wrap(a)}[{last}]", shape)
        if cols == 1:
            source, bounds = self.sliced(rows)
            a, _ = self.expression((source, 1), depth, scope)
            return self.make("block", [a], f"{self.wrap(a)}[{bounds}]", shape)
        row_source, row_bounds = self.sliced(rows) if self.choose.chance(0.7) else (rows, ":")
        col_source, col_bounds = self.sliced(cols) if self.choose.chance(0.5) or row_bounds == ":" else (cols, ":")
        a, _ = self.expression((row_source, col_source), depth, scope)
        return self.make("block", [a], f"{self.wrap(a)}[{row_bounds}, {col_bounds}]", shape)

    def parts(self, dim) -> list | None:
        """Two dimensions that add up to dim, as symgrad adds them, or None."""
        if isinstance(dim, int):
            return [1, dim - 1] if dim >= 2 else None
        terms = dim.split(" + ")
        if len(terms) == 2:
            return [int(t) if t.isdigit() else t for t in terms]
        factors = dim.split()
        if len(factors) == 2 and factors[0] == "2":
            return [factors[1], factors[1]]
        return None

    def make_stack(self, shape, depth, scope):
        """[A; B] (rows add up) or [A, B] (columns add up), and [A, B; C, D]."""
        if scope is not None:
            return None
        rows, cols = shape
        across_rows, across_cols = self.parts(rows), self.parts(cols)
        if across_rows and across_cols and self.choose.chance(0.3):
            blocks = [[self.expression((r, c), self.choose.integer(0, depth), scope)[0] for c in across_cols]
                      for r in across_rows]
            text = "; ".join(", ".join(b.text for b in row) for row in blocks)
            stacked = [self.make("hstack", row, "", (r, cols))[0] for row, r in zip(blocks, across_rows)]
            return self.make("vstack", stacked, f"[{text}]", shape)
        options = [("vstack", across_rows)] * bool(across_rows) + [("hstack", across_cols)] * bool(across_cols)
        if not options:
            return None
        op, split = self.choose.pick(options)
        shapes = [(part, cols) for part in split] if op == "vstack" else [(rows, part) for part in split]
        blocks = [self.expression(s, self.choose.integer(0, depth), scope)[0] for s in shapes]
        separator = "; " if op == "vstack" else ", "
        return self.make(op, blocks, f"[{separator.join(b.text for b in blocks)}]", shape)

    def make_vec(self, shape, depth, scope):
        """vec(A): the columns of A stacked, (n m)×1."""
        rows, cols = shape
        if scope is not None or cols != 1 or rows == 1:
            return None
        factors = rows.split() if isinstance(rows, str) and len(rows.split()) == 2 else None
        options = [(rows, 1), (1, rows)]
        if factors:
            first, second = (int(f) if f.isdigit() else f for f in factors)
            options = [(first, second), (second, first)]
        elif isinstance(rows, int) and rows % 2 == 0:
            options.append((2, rows // 2))
        a, _ = self.expression(self.choose.pick(options), depth, scope)
        return self.make("vec", [a], f"vec({a.text})", shape)

    def make_pick(self, shape, depth, scope):
        """pick(S, y): one entry of each column of S, at the ids y."""
        rows, cols = shape
        if scope is not None or rows != 1 or not (is_name(cols) or isinstance(cols, int)):
            return None
        count = self.id_count()
        a, _ = self.expression((count, cols), depth, scope)
        y = self.ids(count, None if cols == 1 else cols)
        return self.make("pick", [a, y], f"pick({a.text}, {y.text})", shape)

    def make_onehot(self, shape, depth, scope, alone=False):
        """onehot(y, C), a mask of labels: onehot(y, C) ∘ X or (1 - onehot(y, C)) ∘ X."""
        rows, cols = shape
        if scope is not None or is_scalar(shape) or not (is_name(rows) or isinstance(rows, int)) \
                or not (is_name(cols) or isinstance(cols, int)):
            return None
        y = self.ids(rows, None if cols == 1 else cols)
        mask = self.make("onehot", [y], f"onehot({y.text}, {rows})", shape)
        if alone:
            return mask
        x, _ = self.expression(shape, depth, scope)
        if self.choose.chance(0.5):
            mask = self.make("sub", [E("number", (), 1.0, "1"), mask[0]], f"(1 - {mask[0].text})", shape)
        return self.make("mul", [mask[0], x], f"{mask[0].text} ∘ {self.wrap(x)}", shape)

    def make_axis(self, shape, depth, scope):
        """Sums and means along an axis: rowsum(X), rowmean(X), X ones(m) (a column);
        colsum(X), colmean(X) (a row)."""
        rows, cols = shape
        if scope is not None or is_scalar(shape) or rows != 1 and cols != 1:
            return None
        other = self.choose.pick(self.dims())
        if cols == 1:
            x, _ = self.expression((rows, other), depth, scope)
            op = self.choose.pick(["rowsum", "rowmean", "ones"])
            if op == "ones":
                ones, _ = self.make("ones", (), f"ones({other})", (other, 1), data=other)
                return self.make("matmul", [x, ones], f"{self.wrap(x)} {ones.text}", shape)
        else:
            x, _ = self.expression((other, cols), depth, scope)
            op = self.choose.pick(["colsum", "colmean"])
        return self.make(op, [x], f"{op}({x.text})", shape)

    def make_matrix_power(self, shape, depth, scope):
        """A^k of a square matrix, k in -2..3 (A^0 = I; a negative power of an invertible A)."""
        rows, cols = shape
        if scope is not None or rows != cols or is_scalar(shape):
            return None
        k = self.choose.pick([-2, -1, 0, 1, 2, 3])
        a, _ = self.pd_matrix(rows, depth) if k < 0 else self.expression(shape, depth, scope)
        exponent = self.choose.pick([f"({k})", f"{{{k}}}"] + [str(k)] * (k >= 0) + [f"{k}"] * (k < 0))
        return self.make("matpow", [a], f"{self.wrap(a)}^{exponent}", shape, data=k)

    def make_define(self, shape, depth, scope):
        """Name a subexpression (it may be used again further on)."""
        e, v = self.expression(shape, depth, scope)
        if e.op in ("name", "number"):
            return e, v
        ctx = self.ctx
        name = ctx.fresh("d")
        ctx.statements.append(f"{name} = {e.text}")
        ctx.definitions[name] = e
        ctx.env[name] = v
        return self.make("name", text=name, shape=shape, data=name)

    def random_shape(self) -> Shape:
        dims = self.dims()
        return self.choose.pick([SCALAR, (self.choose.pick(dims), 1), (1, self.choose.pick(dims)),
                                 (self.choose.pick(dims), self.choose.pick(dims))])


def type_text(shape: Shape, choose, ids=None) -> str:
    """A variable's type as written: R^(...), a dimension expression in
    brackets where it is one of two; ids as {0..C-1}^k, one id as {0..C-1}."""
    rows, cols = shape
    if ids is not None:
        high = ids - 1 if isinstance(ids, int) else f"{ids}-1"
        return f"{{0..{high}}}" if shape == SCALAR else f"{{0..{high}}}^{rows}"
    if shape == SCALAR:
        return choose.pick(["R", "R", "R^1", "R^(1 x 1)"])
    if not is_name(rows) and not isinstance(rows, int) and cols == 1:
        return choose.pick([f"R^({rows})", f"R^{{{rows}}}", f"R^(({rows}) x 1)"])
    rows, cols = (d if is_name(d) or isinstance(d, int) else f"({d})" for d in shape)
    if cols == 1:
        return choose.pick([f"R^{rows}", f"R^({rows})", f"R^{{{rows}}}", f"R^({rows} x 1)"])
    by = choose.pick([" x ", "×", ",", " × ", ", "])
    bracket = choose.pick(["()", "{}"])
    return f"R^{bracket[0]}{rows}{by}{cols}{bracket[1]}"


def generate(choose) -> Model:
    """A random model (see the module's docstring)."""
    dims = choose.shuffled(DIM_NAMES)[:choose.integer(1, 3)]
    sizes = {d: choose.pick([1, 2, 2, 3, 3, 4]) for d in dims}
    ctx = Context(choose, sizes)
    if choose.chance(0.5):      # a dimension expression the shapes may use
        a, b = choose.pick(dims), choose.pick(dims)
        ctx.compound.append(choose.pick([f"{a} + {b}" if a != b else f"{a} + 1", f"2 {a}", f"{a} {b}"
                                         if a != b else f"2 {a}"]))
    for d, size in sizes.items():
        ctx.env[d] = Val.of((size, size))
    for _ in range(choose.integer(0, 1)):
        name = f"c{ctx.counter}"
        ctx.counter += 1
        text, v = choose.pick(NUMBERS)
        ctx.consts[name] = v
        ctx.env[name] = ctx.const_env[name] = Val.of((v, v))
    generator = Generator(ctx)
    targets = []
    for index in range(choose.pick([1, 1, 1, 2])):
        ctx.budget = choose.integer(8, 30)
        body, _ = generator.expression(SCALAR, choose.integer(1, MAX_DEPTH))
        target = f"L{index}" if index else choose.pick(["L", "J", "loss", "s"])
        ctx.statements.append(f"{target} = {body.text}")
        ctx.env[target] = Val.of((0, 0))
        targets.append(target)
    # A dimension only inside expressions (m + n, m n) or only an ids' count
    # is bound by no argument: a vector of its own binds it.
    words = {f for v in ctx.variables.values() for d in v.shape if isinstance(d, str) for f in d.split()}
    words |= {c for c in ctx.ids.values() if isinstance(c, str)}
    bound = {d for v in ctx.variables.values() for d in v.shape if is_name(d)}
    for d in sorted(w for w in words if w in sizes and w not in bound):
        vector, _ = generator.variable((d, 1), "real")
        ctx.statements.append(f"{targets[0]}_{d} = {targets[0]} + sum({vector.text})")
        targets[0] = f"{targets[0]}_{d}"
    if not any(v.kind == "param" for v in ctx.variables.values()):
        generator.variable(SCALAR, "real")
        name = list(ctx.variables)[-1]
        ctx.variables[name].kind = "param"
        ctx.statements.append(f"L_extra = {targets[0]} + {name} ∘ {name}")
        targets[0] = "L_extra"
    declarations = [f"{v.kind} {v.name} : {type_text(v.shape, choose, ctx.ids.get(v.name))}"
                    for v in ctx.variables.values()]
    declarations += [f"const {name} = {number(v)}" for name, v in ctx.consts.items()]
    differentiable = [v.name for v in ctx.variables.values() if v.kind != "const" and v.name not in ctx.ids]
    grads = []
    for target in targets:
        if choose.chance(0.3):
            grads.append(f"grad {target}")
        else:
            grads.append(f"grad {target} wrt {', '.join(choose.shuffled(differentiable))}")
    text = "\n".join(declarations + ctx.statements + grads) + "\n"
    return Model(text, sizes, {v.name: v.domain for v in ctx.variables.values() if v.name not in ctx.ids}, targets,
                 choose.chance(0.5), choose.integer(0, 1000), frozenset(ctx.made))
