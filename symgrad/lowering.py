"""Syntax tree to typed IR, checking names and shapes on the way.

`lower(source, statements)` resolves every name, gives every value its
shape through the operator table's shape rules, and reports each mistake
at its place: an unknown name (with "did you mean" and, where its use implies
one, a declaration to add), a shape mismatch (at its operator), a misuse of a
statement. Errors in separate statements are all reported; within one
expression only the first, since what follows from it would only repeat it.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import syntax as ast
from .binding import dimension_errors
from .ir import GradRequest, HessianRequest, JacobianRequest, Node, Program, Requirement, UserFunction, Variable
from .ops import BUILTINS, OPS, shape_of
from .parsing import NUMPY_FUNCTIONS, ParsedFile, in_model_spelling, read_statements
from .shapes import SCALAR, Dim, Shape, ShapeError, column, dim_add, dim_mul, dim_terms, dim_text
from .simplify import forward_form
from .source import Diagnostic, ModelError, Source, Span


class Invalid:
    """Stands for a value whose error is already reported, so that what is
    built from it reports nothing more. `unknown` is the diagnostic of an
    undeclared name, which the operator using it may complete with a hint."""

    __slots__ = ("unknown", "name")

    def __init__(self, unknown: Diagnostic | None = None, name: str | None = None):
        self.unknown = unknown
        self.name = name


@dataclass
class Scope:
    """Where names are looked up: a function body sees its own arguments and
    constants with a value; everything else sees the whole model so far."""

    arguments: dict[str, Node] = field(default_factory=dict)
    in_function: str | None = None


Value = Node | Invalid


@dataclass
class Axis:
    """An axis of an index, lowered: `:` (start and stop None) or the
    half-open range start:stop of integer values (Nodes, or Invalid)."""

    start: Value | None
    stop: Value | None
    span: Span


def dim_of(node: Node) -> Dim | None:
    """The dimension polynomial an integer expression of dimensions and whole
    numbers stands for (`h`, `2 h`, `n + 1`, `n - h`), or None when it is
    not one (0.5, a variable, a product of two values)."""
    kind = node.op
    if kind == "number":
        return int(node.data) if float(node.data).is_integer() else None
    if kind == "dimension":
        return node.data
    parts = [dim_of(arg) for arg in node.args]
    if None in parts or kind not in ("add", "sub", "neg", "mul"):
        return None
    if kind == "add":
        return dim_add(*parts)
    if kind == "sub":
        return dim_add(*parts, -1)
    if kind == "neg":
        return dim_mul(-1, parts[0])
    return dim_mul(*parts)


def always(dim: Dim, minimum: int) -> bool | None:
    """Whether `dim >= minimum` holds for every size of its symbols (each a
    positive integer): True, False, or None when the sizes decide. A
    polynomial whose terms all grow with the symbols is least where every
    symbol is 1; one whose terms all shrink, greatest there."""
    terms = dim_terms(dim)
    at_ones = sum(terms.values())
    slopes = [c for monomial, c in terms.items() if monomial]
    if all(c >= 0 for c in slopes) and at_ones >= minimum:
        return True
    if all(c <= 0 for c in slopes) and at_ones < minimum:
        return False
    return None


def near_keys(name: str) -> set[str]:
    """`name` case-folded, whole and with each one of its letters deleted.
    Two names an edit or two apart (a letter wrong, missing, extra or two
    swapped; any case) share one of these keys."""
    folded = name.casefold()
    return {folded, *(folded[:i] + folded[i + 1:] for i in range(len(folded)))}


def likeness(a: str, b: str) -> float:
    """How alike two names that share a near_key are, as difflib's ratio
    counts it (2 × the letters in common / the letters of both), with case
    ignored. Sharing a key, they differ in case only (nothing to edit), by
    one extra letter (one edit) or by one letter in the same length (two)."""
    edits = 0 if a.casefold() == b.casefold() else 1 if len(a) != len(b) else 2
    return 1 - edits / (len(a) + len(b))


def likest(name: str, candidates) -> str | None:
    """The candidate most like `name` (which shares a near_key with each), if
    one is alike enough to suggest. Of equally like ones, the one with more
    of the mistake's letters in their case (`aa`: `a` before `A`); then the
    first name."""
    scored = [(-likeness(name, c), -sum(letter in name for letter in c), c) for c in candidates if c != name]
    best = min(scored, default=None)
    return best[2] if best and -best[0] >= 0.6 else None


class NameIndex:
    """Names under their near_keys, so that "did you mean" compares a
    mistake with the few names near it, not with every name of the file
    (a file of 100,000 names and as many mistakes stays linear)."""

    def __init__(self, names=()):
        self.by_key: dict[str, list[str]] = {}
        for name in names:
            self.add(name)

    def add(self, name: str):
        for key in near_keys(name):
            self.by_key.setdefault(key, []).append(name)

    def near(self, keys: set[str]) -> set[str]:
        """The names that share one of `keys` (a name's near_keys)."""
        return {near for key in keys for near in self.by_key.get(key, ())}


# Numbers a model may call by name, unless it declares that name.
CONSTANTS = {"π": math.pi, "pi": math.pi}

# The operators of level 3 (products and division), as the parser names them.
LEVEL_3 = {"star", "at", "juxtapose", "hadamard", "divide"}
POWERS = {"power", "elementwise_power"}
# The operations that take ids as an operand (made by indexing, pick and onehot).
ID_OPERATIONS = {"gather", "pick", "onehot"}
UNARY_LEVELS = {ast.Negate, ast.Transpose}


def _kind_word(kind: str) -> str:
    return {"dim": "a dimension", "variable": "a variable", "definition": "a definition",
            "function": "a function"}[kind]


class Lowering:
    def __init__(self, source: Source, allow_undefined_functions: bool = False,
                 parsed: ParsedFile | None = None):
        parsed = parsed or ParsedFile()
        self.program = Program(source)
        self.allow_undefined_functions = allow_undefined_functions
        self.diagnostics: list[Diagnostic] = list(parsed.diagnostics)
        # Names of statements that did not parse: their uses are not errors
        # of their own, and a `grad` that did not parse is still a `grad`.
        self.unparsed_names = parsed.unparsed_names
        self.unparsed_grad = parsed.unparsed_grad
        self.kinds: dict[str, tuple[str, Span]] = {}   # name -> (kind, where introduced)
        self.index: NameIndex | None = None  # self.kinds' names, for "did you mean"
        self.declared_later: dict[str, Span] = {}
        # The ids of the negations and postfix operators whose chain ends in
        # no call of a value (see split_call).
        self.unsplit: set[int] = set()

    # ------------------------------------------------------------- errors
    def error(self, span: Span, message: str, hint: str | None = None) -> Invalid:
        self.diagnostics.append(Diagnostic(span, message, hint))
        return Invalid()

    def close_name(self, name: str, kinds: set[str] | None, extra=()) -> str | None:
        """The name most like `name` among the names of `kinds` (None: of
        any kind) and `extra`, if one is alike enough to suggest."""
        if self.index is None:  # made at the first mistake: a correct file needs none
            self.index = NameIndex(self.kinds)
        keys = near_keys(name)
        candidates = ({c for c in self.index.near(keys) if kinds is None or self.kinds[c][0] in kinds}
                      | {c for c in extra if near_keys(c) & keys})
        return likest(name, candidates)

    # -------------------------------------------------------- statements
    def run(self, statements: list[ast.Statement]) -> Program:
        for statement in statements:
            if isinstance(statement, (ast.Declaration, ast.ConstValue, ast.Function, ast.Definition)):
                name = statement.name
                self.declared_later.setdefault(name.id, name.span)
        grads = []
        for statement in statements:
            if isinstance(statement, ast.Grad):
                grads.append(statement)
            elif isinstance(statement, ast.Declaration):
                self.declaration(statement)
            elif isinstance(statement, ast.ConstValue):
                self.const_value(statement)
            elif isinstance(statement, ast.Function):
                self.function(statement)
            else:
                self.definition(statement)
        # grad statements first: a hessian statement reads the gradient of its scalar's.
        for statement in sorted(grads, key=lambda statement: statement.kind != "grad"):
            self.grad(statement)
        if not grads and not self.unparsed_grad:
            self.diagnostics.append(Diagnostic(
                Span.point(*self.program.source.end_of_text()), "no grad statement: nothing to differentiate",
                f"add a line such as `{self.suggested_grad()}`: a scalar and the variables to differentiate it by",
                of_file=True))
        # Last, as only a model with no other error has all its arguments' shapes.
        self.diagnostics = self.diagnostics or dimension_errors(self.program)
        if self.diagnostics:
            raise ModelError(self.program.source, self.diagnostics)
        return self.program

    def introduce(self, name: ast.Name, kind: str) -> bool:
        """Claim a name for one thing; each name is one thing in a file."""
        if name.id in BUILTINS:
            self.error(name.span, f"'{name.id}' is a built-in function and cannot be redefined",
                       "choose another name")
            return False
        if name.id in self.kinds:
            old_kind, where = self.kinds[name.id]
            if kind == old_kind == "definition":
                self.error(name.span, f"'{name.id}' is already defined at line {where.line}",
                           "definitions are single-assignment: give the new value another name")
            else:
                self.error(name.span, f"'{name.id}' is already {_kind_word(old_kind)} "
                                      f"(line {where.line}, column {where.column})",
                           "each name is one thing in a file: choose another name")
            return False
        self.claim(name.id, kind, name.span)
        return True

    def claim(self, name: str, kind: str, span: Span):
        self.kinds[name] = (kind, span)
        if self.index is not None:
            self.index.add(name)

    def type_shape(self, type_: ast.TypeExpr) -> Shape | None:
        dims = []
        for written in type_.dims:
            dim = self.dimension(written.expr)
            if dim is None:
                return None
            if isinstance(dim, int) and dim <= 0:
                self.error(written.span, f"a dimension must be a positive integer, got {dim}")
                return None
            dims.append(dim)
        if len(dims) == 0:
            return SCALAR
        if len(dims) == 1:
            return column(dims[0])
        return Shape(dims[0], dims[1])

    def dimension(self, expr: ast.Expr) -> Dim | None:
        """A dimension as written (`n`, `5 d`, `n + m`): its polynomial. A
        name seen here first becomes a dimension of the file."""
        kind = type(expr)
        if kind is ast.Number:
            return int(expr.value)
        if kind is ast.Name:
            name = expr.id
            if self.kinds.get(name, ("dim",))[0] != "dim" or name in BUILTINS:
                what = "a built-in function" if name in BUILTINS else _kind_word(self.kinds[name][0])
                self.error(expr.span, f"'{name}' is {what}, not a dimension",
                           "each name is one thing in a file: choose another name for the dimension")
                return None
            if name not in self.kinds:
                self.claim(name, "dim", expr.span)
                self.program.dims[name] = expr.span
            return name
        left, right = self.dimension(expr.left), self.dimension(expr.right)
        if left is None or right is None:
            return None
        if expr.op == "add":
            return dim_add(left, right)
        if expr.op == "sub":
            return dim_add(left, right, -1)
        return dim_mul(left, right)

    def id_count(self, type_: ast.TypeExpr, kind: str, name: ast.Name) -> Dim | None:
        """How many ids `{0..C-1}` allows: C. Ids are 0-based and never differentiated."""
        low, high = type_.ids
        if type(low.expr) is not ast.Number or low.expr.value != 0:
            self.error(low.span, "ids start at 0 (0-based, as NumPy indexes): write {0..C-1}")
            return None
        if kind == "param":
            self.error(name.span, f"'{name.id}' holds ids, which are never differentiated",
                       f"declare it `input {name.id} : ...` (or const)")
            return None
        top = self.dimension(high.expr)
        if top is None:
            return None
        count = dim_add(top, 1)
        if isinstance(count, int) and count <= 0:
            self.error(high.span, f"no ids fit in {{0..{top}}}: the highest id must be at least 0")
            return None
        return count

    def add_variable(self, name: ast.Name, kind: str, shape: Shape, span: Span, value=None, ids=None):
        node = Node("variable", (), shape, name.span, data=name.id, name=name.id)
        self.program.variables[name.id] = Variable(name.id, kind, shape, span, node, value, ids)

    def declaration(self, statement: ast.Declaration):
        # A declaration with a wrong type still claims its name, so that its
        # uses report nothing more.
        shape = self.type_shape(statement.type)
        ids = None
        if statement.type.ids is not None:
            ids = self.id_count(statement.type, statement.kind, statement.name)
            shape = shape if ids is not None else None
        if self.introduce(statement.name, "variable") and shape is not None:
            self.add_variable(statement.name, statement.kind, shape, statement.span, ids=ids)

    def const_value(self, statement: ast.ConstValue):
        if self.introduce(statement.name, "variable"):
            self.add_variable(statement.name, "const", SCALAR, statement.span, statement.value.value)

    def function(self, statement: ast.Function):
        name = statement.name
        scope = Scope(in_function=name.id)
        body: Value = Invalid()
        for param in statement.params:
            if param.id in BUILTINS:
                self.error(param.span, f"'{param.id}' is a built-in function and cannot name an argument")
                break
            if param.id in scope.arguments:
                self.error(param.span, f"argument '{param.id}' is listed twice")
                break
            scope.arguments[param.id] = Node("argument", (), SCALAR, param.span, data=param.id, name=param.id)
        else:  # the body of a function with wrong arguments is not checked
            body = self.expression(statement.body, scope)
        # A function with a mistake still claims its name, so that its calls
        # report nothing more.
        if self.introduce(name, "function") and isinstance(body, Node):
            self.program.functions[name.id] = UserFunction(
                name.id, tuple(scope.arguments), body, statement.span)

    def definition(self, statement: ast.Definition):
        value = self.expression(statement.expr, Scope())
        name = statement.name
        if self.introduce(name, "definition") and isinstance(value, Node):
            if value.name is None:
                value.name = name.id
            self.program.definitions[name.id] = value

    def suggested_grad(self) -> str:
        """A grad statement for a model that has none: its last scalar
        definition, by its params (or, without any, its inputs)."""
        scalars = [name for name, node in self.program.definitions.items() if node.shape.is_scalar]
        variables = self.program.arguments
        wrt = [v.name for v in variables if v.kind == "param"] or [v.name for v in variables]
        if not scalars or not wrt:
            return "grad s wrt W"
        return f"grad {scalars[-1]} wrt {', '.join(wrt)}"

    def target_value(self, statement: ast.Grad) -> Node | None:
        """The value a grad, hessian or jacobian statement differentiates
        (None after reporting why there is none)."""
        target, word = statement.target, statement.kind
        kind = self.kinds.get(target.id, (None,))[0]
        if kind == "definition" and target.id in self.program.definitions:
            return self.program.definitions[target.id]
        if kind == "variable" and target.id in self.program.variables:
            return self.program.variables[target.id].node
        if kind is None and target.id not in self.declared_later:
            self.unknown_name(target, {"definition", "variable"})
        elif kind in ("dim", "function"):  # else a statement that failed to check
            needs = "a vector or scalar value" if word == "jacobian" else "a scalar value"
            self.error(target.span, f"'{target.id}' is {_kind_word(kind)}; {word} needs {needs}")
        return None

    def scalar_target(self, statement: ast.Grad, requests: list, hint: str = "") -> Node | None:
        """The scalar a grad or hessian statement differentiates, where it is
        a scalar and the first statement of that kind on it (None after
        reporting why not)."""
        target, word = statement.target, statement.kind
        node = self.target_value(statement)
        if node is None:
            return None
        if not node.shape.is_scalar:
            self.error(target.span, f"{word} needs a scalar, but '{target.id}' is {node.shape} {node.shape.brackets}",
                       f"reduce it to a scalar first, e.g. sum({target.id}){hint}")
            return None
        if any(request.target == target.id for request in requests):
            self.error(target.span, f"'{target.id}' already has a {word} statement",
                       "name every variable in one `wrt` list")
            return None
        return node

    def grad(self, statement: ast.Grad):
        if statement.kind != "grad":
            return (self.hessian if statement.kind == "hessian" else self.jacobian)(statement)
        node = self.scalar_target(statement, self.program.grads)
        wrt = None if node is None else self.wrt_variables(statement)
        if wrt is not None:
            self.program.grads.append(GradRequest(statement.target.id, node, tuple(wrt), statement.span))

    def hessian(self, statement: ast.Grad):
        """`hessian s wrt A, B`: s a scalar. Its gradient comes from the
        `grad s` statement, which must name every variable; where the file
        has none, the hessian statement adds `grad s wrt A, B`."""
        target = statement.target
        node = self.scalar_target(statement, self.program.hessians,
                                  f"; `jacobian {target.id} wrt x` differentiates a vector")
        wrt = None if node is None else self.wrt_variables(statement)
        if wrt is None:
            return
        grad = next((request for request in self.program.grads if request.target == target.id), None)
        if grad is None:
            self.program.grads.append(GradRequest(target.id, node, tuple(wrt), statement.span))
        else:
            missing = [v.name for v in wrt if v not in grad.wrt]
            if missing:
                self.error(statement.span, f"the Hessian is taken of the gradient of `grad {target.id}`, "
                                           f"which has no {', '.join(missing)}",
                           f"add {', '.join(missing)} after wrt in `grad {target.id} wrt ...`")
                return
        self.program.hessians.append(HessianRequest(target.id, node, tuple(wrt), statement.span))

    def jacobian(self, statement: ast.Grad):
        """`jacobian y wrt x`: y and x each a vector or scalar."""
        target = statement.target
        node = self.target_value(statement)
        if node is None:
            return
        if not (node.shape.is_column or node.shape.is_row or node.shape.is_scalar):
            self.error(target.span, f"jacobian needs a vector or scalar, but '{target.id}' is {node.shape} "
                                    f"{node.shape.brackets}",
                       f"differentiate its columns stacked: define `{target.id}_vec = vec({target.id})`")
            return
        if any(request.target == target.id for request in self.program.jacobians):
            self.error(target.span, f"'{target.id}' already has a jacobian statement")
            return
        if statement.wrt is None or len(statement.wrt) != 1:
            self.error(statement.span, "a jacobian is taken with respect to one variable",
                       f"jacobian {target.id} wrt x (one statement per variable, or stack them as one vector)")
            return
        wrt = self.wrt_variables(statement)
        if wrt is None:
            return
        variable = wrt[0]
        if not (variable.shape.is_column or variable.shape.is_row or variable.shape.is_scalar):
            self.error(statement.wrt[0].span, f"jacobian takes a vector or scalar variable, but '{variable.name}' "
                                              f"is {variable.shape} {variable.shape.brackets}",
                       f"declare it as a vector and use vec({variable.name}) where the matrix was meant")
            return
        self.program.jacobians.append(JacobianRequest(target.id, node, variable, statement.span))

    def wrt_variables(self, statement: ast.Grad) -> list[Variable] | None:
        variables = self.program.variables
        if statement.wrt is None:
            params = [v for v in variables.values() if v.kind == "param"]
            if not params:
                self.error(statement.span, "grad without `wrt` differentiates every param, but there is none",
                           f"name the inputs: grad {statement.target.id} wrt ...")
                return None
            return params
        chosen: list[Variable] = []
        ok = True
        for name in statement.wrt:
            kind = self.kinds.get(name.id, (None,))[0]
            if kind is None:
                self.unknown_name(name, {"variable"})
                ok = False
            elif kind != "variable":
                self.error(name.span, f"'{name.id}' is {_kind_word(kind)}; gradients are taken with "
                                      "respect to params and inputs")
                ok = False
            elif name.id not in variables:
                ok = False  # its declaration failed and was reported
            elif variables[name.id].kind == "const":
                self.error(name.span, f"'{name.id}' is a const, and a const is never differentiated",
                           "declare it as `param` or `input` to get its gradient")
                ok = False
            elif variables[name.id].ids is not None:
                self.error(name.span, f"'{name.id}' holds ids, which are never differentiated",
                           "ids only select entries; differentiate by the values they select from")
                ok = False
            elif variables[name.id] in chosen:
                self.error(name.span, f"'{name.id}' is listed twice after wrt")
                ok = False
            else:
                chosen.append(variables[name.id])
        return chosen if ok else None

    # ------------------------------------------------------- expressions
    def expression(self, root: ast.Expr, scope: Scope) -> Value:
        """Lower an expression bottom-up with an explicit stack (no recursion:
        5,000 nested brackets are fine). A node on `stack` with its children
        (not None) is lowered once their values are the top of `values`."""
        values: list[Value] = []
        stack: list[tuple[ast.Expr, tuple | None]] = [(root, None)]
        children, lower = ast.children, self.lower
        while stack:
            expr, kids = stack.pop()
            if kids is None:
                expr = self.regroup(expr, scope)
                kids = children(expr)
                if kids:
                    stack.append((expr, kids))
                    stack.extend((kid, None) for kid in reversed(kids))
                    continue
                values.append(lower(expr, [], scope))
            else:
                args = values[-len(kids):]
                del values[-len(kids):]
                values.append(lower(expr, args, scope))
        return values[0]

    def is_value(self, name: ast.Name, scope: Scope) -> bool:
        """name is a value (so `name (...)` is a product), not a function."""
        return (name.id in scope.arguments
                or self.kinds.get(name.id, (None,))[0] in ("variable", "definition", "dim"))

    def regroup(self, expr: ast.Expr, scope: Scope) -> ast.Expr:
        """The one place that decides how a "call" of a value is grouped.
        The parser reads `b (c)` as a call, which binds as tightly as a name;
        when b is a value it is the juxtaposition `b c`, and groups as one:
        with level-3 operators to the left, `a/b (c)` is `(a/b) c` and
        `a b (c)` is `(a b) c`; after a negation or a power, `-b (c)^2` is
        `(-b) (c^2)`. Called top-down, on each node before its operands;
        brackets (a group) are never reached into."""
        if type(expr) is ast.Binary and expr.op in LEVEL_3:
            split = self.split_call(expr.right, scope)
            if split is None:
                return expr
            head, tail, open_span = split
            left = ast.Binary(expr.op, expr.left, head, expr.left.span.to(head.span), expr.op_span)
            return ast.Binary("juxtapose", left, tail, expr.span, open_span)
        split = self.split_call(expr, scope)
        if split is None:
            return expr
        head, tail, open_span = split
        return ast.Binary("juxtapose", head, tail, expr.span, open_span)

    def split_call(self, expr: ast.Expr, scope: Scope) -> tuple[ast.Expr, ast.Expr, Span] | None:
        """If `expr` starts with the call of a value `b (c)` under negations
        and postfix operators, as the parser builds `-b (c)^T`: the part
        before the bracket (`-b`), the part from it on (`(c)^T`) and the
        bracket's span. Else None."""
        chain = []
        node = expr
        while type(node) in UNARY_LEVELS or type(node) is ast.Binary and node.op in POWERS:
            if id(node) in self.unsplit:
                break
            chain.append(node)
            node = node.left if type(node) is ast.Binary else node.operand
        if not (type(node) is ast.Call and len(node.args) == 1 and self.is_value(node.func, scope)):
            # Nor does any chain inside this one: a chain of 5,000 marks is walked once, not 5,000 times.
            self.unsplit.update(map(id, chain[1:]))
            return None
        head: ast.Expr = node.func
        tail: ast.Expr = ast.Group(node.args[0], node.open_span.to(node.span))
        for outer in reversed(chain):
            if type(outer) is ast.Negate:
                head = ast.Negate(head, outer.op_span.to(head.span), outer.op_span)
            elif type(outer) is ast.Transpose:
                tail = ast.Transpose(tail, tail.span.to(outer.span), outer.op_span)
            else:
                tail = ast.Binary(outer.op, tail, outer.right, tail.span.to(outer.span), outer.op_span)
        return head, tail, node.open_span

    def lower(self, expr: ast.Expr, args: list[Value], scope: Scope) -> Value:
        kind = type(expr)
        if kind is ast.Name:
            return self.resolve(expr, scope)
        if kind is ast.Number:
            return Node("number", (), SCALAR, expr.span, data=expr.value)
        if kind is ast.Binary:
            return self.binary(expr, args, scope)
        if kind is ast.Call:
            return self.call(expr, args, scope)
        if kind is ast.Negate:
            return self.make("neg", args, expr.op_span, scope)
        if kind is ast.Transpose:
            return self.make("transpose", args, expr.op_span, scope)
        if kind is ast.Group:
            return args[0]
        if kind is ast.Index:
            return self.indexing(expr, args, scope)
        if kind is ast.Block:
            return self.block(expr, args, scope)
        if kind is ast.Whole:
            return Axis(None, None, expr.span)
        if kind is ast.Range:
            return Axis(args[0], args[1], expr.span)
        return self.make("norm", args, expr.span, scope)

    def binary(self, expr: ast.Binary, args: list[Value], scope: Scope) -> Value:
        op = expr.op
        if op in ("add", "sub"):
            return self.make(op, args, expr.op_span, scope, written=(expr.left, expr.right))
        if op in ("star", "at", "juxtapose"):
            return self.product(args, expr.op_span, scope)
        if op == "hadamard":
            return self.make("mul", args, expr.op_span, scope, written=(expr.left, expr.right))
        if op == "divide":
            return self.make("div", args, expr.op_span, scope, written=(expr.left, expr.right))
        if op == "elementwise_power":
            return self.make("pow", args, expr.op_span, scope)
        return self.power(expr, args, scope)

    def power(self, expr: ast.Binary, args: list[Value], scope: Scope) -> Value:
        """`a^k` is a power of a scalar; `A^-1` of a square matrix is its inverse."""
        base, exponent = args
        if (isinstance(base, Node) and base.op == "norm" and isinstance(expr.right, ast.Number)
                and expr.right.value == 2):
            # ||A||^2 is a sum of squares: no square root to take and undo.
            return self.make("sqnorm", list(base.args), expr.op_span, scope)
        if isinstance(base, Invalid) or isinstance(base, Node) and base.shape.is_scalar:
            return self.make("pow", args, expr.op_span, scope)
        written = expr.right
        while isinstance(written, ast.Group):  # A^(2)
            written = written.operand
        negative = isinstance(written, ast.Negate)
        written = written.operand if negative else written
        if negative and isinstance(written, ast.Number) and written.value == 1:
            return self.make("inv", [base], expr.op_span, scope)
        if not base.shape.is_square:
            return self.error(expr.op_span, f"'^' raises a scalar to a power, but its base is {base.shape} "
                                            f"{base.shape.brackets}",
                              "for the elementwise power write A .^ k; A^-1 is the inverse of a square matrix")
        if not (isinstance(written, ast.Number) and float(written.value).is_integer()):
            return self.error(expr.right.span, f"a matrix is raised only to a whole power (A^2, A^0, A^-1), "
                                               f"not to {self.program.source.snippet(expr.right.span)}",
                              "for the elementwise power write A .^ k")
        return self.matrix_power(base, int(written.value), negative, expr.op_span, scope)

    def matrix_power(self, base: Node, k: int, negative: bool, span: Span, scope: Scope) -> Value:
        """A^k by repeated squaring (A⁴ = A² A², A⁵ = A⁴ A: each product made
        once); A^0 = I, A^-k = (A⁻¹)^k."""
        if k == 0:
            return Node("identity", (), base.shape, span, data=base.shape.rows)
        if negative:
            base = self.make("inv", [base], span, scope)
        result = None
        square = base
        while k:
            if k & 1:
                result = square if result is None else self.make("matmul", [result, square], span, scope)
            k >>= 1
            if k:
                square = self.make("matmul", [square, square], span, scope)
        return result

    # ---------------------------------------------------- ids and indexing
    def ids_of(self, node: Node) -> Variable | None:
        """The id variable node is, if it is one."""
        variable = self.program.variables.get(node.data) if node.op == "variable" else None
        return variable if variable is not None and variable.ids is not None else None

    def ids_misused(self, node: Node, span: Span) -> Invalid:
        count = dim_text(self.ids_of(node).ids)
        top = dim_text(dim_add(self.ids_of(node).ids, -1))
        return self.error(span, f"'{node.data}' holds ids (0..{top}), which only index: "
                                f"{node.data} may be used in L[:, {node.data}], x[{node.data}], "
                                f"pick(S, {node.data}) and onehot({node.data}, {count})",
                          f"onehot({node.data}, {count}) is the {count}×N indicator matrix of the ids, "
                          "a value to compute with")

    def require(self, dim: Dim, minimum: int, span: Span, broken: str, needed: str) -> bool:
        """`dim >= minimum`: an error (`broken`) where no sizes satisfy it, a
        Requirement (`needed`) checked at run time where the sizes decide."""
        holds = always(dim, minimum)
        if holds is False:
            self.error(span, broken)
            return False
        if holds is None:
            self.program.requirements.append(Requirement(dim, minimum, needed, span))
        return True

    def indexing(self, expr: ast.Index, args: list, scope: Scope) -> Value:
        """A[i, j], L[:, w], x[w], z[0:h]: a static block of the ranges and
        entries (block), then a gather for each axis indexed by ids."""
        base, axes = args[0], args[1:]
        if scope.in_function:
            return self.not_scalar("indexing", expr.open_span, scope)
        if any(isinstance(a, Invalid) or isinstance(a, Axis) and Invalid in (type(a.start), type(a.stop))
               for a in args):
            return Invalid()
        if isinstance(base, Axis):
            return self.error(base.span, "a range or ':' is an axis of an index, not a value")
        written = self.program.source.snippet(expr.base.span)
        if self.ids_of(base) is not None:
            return self.error(expr.open_span, f"'{written}' holds ids, which are not indexed",
                              "index the values the ids select from: L[:, w], x[w], pick(S, y)")
        shape = base.shape
        if shape.is_scalar:
            return self.error(expr.open_span, f"'{written}' is a scalar R; only vectors and matrices are indexed")
        whole = Axis(None, None, expr.open_span)
        if len(axes) == 2:
            placed = [("rows", axes[0], expr.axes[0]), ("cols", axes[1], expr.axes[1])]
            words = {"rows": "rows", "cols": "columns"}
        elif shape.is_column:
            placed = [("rows", axes[0], expr.axes[0]), ("cols", whole, None)]
            words = {"rows": "entries", "cols": "columns"}
        elif shape.is_row:
            placed = [("rows", whole, None), ("cols", axes[0], expr.axes[0])]
            words = {"rows": "rows", "cols": "entries"}
        else:
            return self.error(expr.open_span, f"'{written}' is a matrix {shape}; index it with two axes: "
                                              f"{written}[i, j], {written}[:, j] or {written}[i, :]")
        bounds: list[Dim] = []
        gathers = []
        for axis, value, axis_expr in placed:
            size = getattr(shape, axis)
            start, stop, static = 0, size, False   # all of the axis, or gathered: nothing to check here
            if isinstance(value, Axis):
                if value.start is not None:
                    start, stop, static = (self.integer_index(value.start, axis_expr.start),
                                           self.integer_index(value.stop, axis_expr.stop), True)
            elif self.ids_of(value) is not None:
                ids = self.ids_of(value)
                if not self.require(dim_add(size, ids.ids, -1), 0, axis_expr.span,
                                    f"the ids of '{ids.name}' (0..{dim_text(dim_add(ids.ids, -1))}) reach past the "
                                    f"{dim_text(size)} {words[axis]} of {written}",
                                    f"the ids of '{ids.name}' (0..{dim_text(dim_add(ids.ids, -1))}) must index the "
                                    f"{dim_text(size)} {words[axis]} of {written}"):
                    return Invalid()
                gathers.append((axis, value))
            else:
                start = self.integer_index(value, axis_expr)
                stop, static = None if start is None else dim_add(start, 1), True
            if start is None or stop is None:
                return Invalid()
            if static and not self.in_bounds(start, stop, size, isinstance(value, Axis), axis_expr,
                                             f"{words[axis]} of {written}"):
                return Invalid()
            bounds += [start, stop]
        if len(gathers) == 2 and not any(ids.shape.is_scalar for _, ids in gathers):
            return self.error(expr.open_span, f"indexing both axes of '{written}' with vectors of ids is not "
                                              "supported",
                              "pick(S, y) takes one entry of each column, S[y_j, j]; or gather one axis "
                              "at a time")
        span = expr.open_span
        value = base
        if bounds != [0, shape.rows, 0, shape.cols]:
            value = Node("block", (base,), shape_of("block", [shape], tuple(bounds)), span, data=tuple(bounds))
        for axis, ids in gathers:
            value = self.make("gather", [value, ids], span, scope, data=axis)
        return value

    def integer_index(self, value: Value, written: ast.Expr) -> Dim | None:
        """An index or a range's end as a dimension polynomial, or None with its error."""
        dim = dim_of(value) if isinstance(value, Node) and value.shape.is_scalar else None
        if dim is None:
            what = self.program.source.snippet(written.span)
            number = isinstance(value, Node) and value.op == "number"
            self.error(written.span,
                       f"an index is a whole number, not {what}" if number else
                       f"an index is a whole number, an expression of dimensions (h, 2 h, n - 1) or ids, not {what}",
                       "indices are 0-based whole numbers, dimensions, or ids" if number else
                       "declare ids as `input w : {0..V-1}^k` (or one id: {0..V-1})")
        return dim

    def in_bounds(self, start: Dim, stop: Dim, size: Dim, is_range: bool, written: ast.Expr, of: str) -> bool:
        """start:stop lies inside 0:size (checked now, or at run time)."""
        span = written.span
        if not is_range:
            at = dim_text(start)
            return (self.require(start, 0, span, f"the index {at} is negative; indices are 0-based and "
                                                  "do not wrap", f"the index {at} must not be negative")
                    and self.require(dim_add(size, stop, -1), 0, span,
                                     f"the index {at} is past the last of the {dim_text(size)} {of} "
                                     f"(0..{dim_text(dim_add(size, -1))})",
                                     f"the index {at} must be within the {dim_text(size)} {of}"))
        block = f"{dim_text(start)}:{dim_text(stop)}"
        return (self.require(start, 0, span, f"the block {block} starts before the first of the {of}",
                             f"the block {block} must not start before 0")
                and self.require(dim_add(stop, start, -1), 1, span, f"the block {block} is empty: "
                                 f"it ends where it starts or before", f"the block {block} must not be empty")
                and self.require(dim_add(size, stop, -1), 0, span,
                                 f"the block {block} ends past the {dim_text(size)} {of}",
                                 f"the block {block} must lie within the {dim_text(size)} {of}"))

    def block(self, expr: ast.Block, args: list[Value], scope: Scope) -> Value:
        """[A, B; C, D]: each row of blocks side by side (hstack), the rows
        stacked (vstack). Unequal sizes are reported at the block that differs."""
        if scope.in_function:
            return self.not_scalar("[A; B]", expr.span, scope)
        if Invalid in map(type, args):
            return Invalid()
        rows, at = [], 0
        for written_row in expr.rows:
            values = args[at:at + len(written_row)]
            at += len(written_row)
            row = self.stacked("hstack", values, written_row, expr, scope)
            if row is None:
                return Invalid()
            rows.append((row, written_row[0]))
        value = self.stacked("vstack", [r for r, _ in rows], [w for _, w in rows], expr, scope)
        return Invalid() if value is None else value

    def stacked(self, op: str, values: list[Node], written, expr: ast.Block, scope: Scope) -> Node | None:
        """values stacked by op (one value is itself), or None with the error
        at the first block whose size differs from the first block's."""
        for value, each in zip(values, written):
            if value.op == "variable" and self.ids_of(value) is not None:
                self.ids_misused(value, each.span)
                return None
        if len(values) == 1:
            return values[0]
        for value, each in zip(values[1:], written[1:]):
            try:
                shape_of(op, [values[0].shape, value.shape])
            except ShapeError as error:
                self.error(each.span, error.message)
                return None
        return self.make(op, values, expr.span, scope)

    def pick_or_onehot(self, expr: ast.Call, args: list[Value], scope: Scope) -> Value:
        """pick(S, y): S[y_j, j] of each column; onehot(y, C): the C×N indicator."""
        name = expr.func.id
        if Invalid in map(type, args):
            return Invalid()
        position = 1 if name == "pick" else 0
        ids = self.ids_of(args[position])
        if ids is None:
            what = self.program.source.snippet(expr.args[position].span)
            return self.error(expr.args[position].span, f"{name} takes ids as its "
                                                        f"{'second' if position else 'first'} argument, "
                                                        f"not {what}",
                              "declare ids as `input y : {0..C-1}^N`")
        span = expr.func.span
        if name == "pick":
            other = args[0]
            if self.ids_of(other) is not None:
                return self.ids_misused(other, expr.args[0].span)
            if not self.require(dim_add(other.shape.rows, ids.ids, -1), 0, expr.args[1].span,
                                f"the ids of '{ids.name}' (0..{dim_text(dim_add(ids.ids, -1))}) reach past the "
                                f"{dim_text(other.shape.rows)} rows of {self.program.source.snippet(expr.args[0].span)}",
                                f"the ids of '{ids.name}' must index the {dim_text(other.shape.rows)} rows"):
                return Invalid()
            return self.make("pick", args, span, scope)
        count = self.integer_index(args[1], expr.args[1]) if isinstance(args[1], Node) else None
        if count is None:
            return Invalid()
        if not self.require(dim_add(count, ids.ids, -1), 0, expr.args[1].span,
                            f"onehot({ids.name}, {dim_text(count)}) has {dim_text(count)} rows, but the ids of "
                            f"'{ids.name}' go up to {dim_text(dim_add(ids.ids, -1))}",
                            f"onehot({ids.name}, {dim_text(count)}) needs a row for every id of '{ids.name}'"):
            return Invalid()
        return self.make("onehot", [args[0]], span, scope, data=count)

    def product(self, args: list[Value], span: Span, scope: Scope) -> Value:
        """Juxtaposition, `*` and `@`: a matrix product, or scaling when one
        factor is a scalar."""
        left, right = args
        scaling = any(isinstance(a, Node) and a.shape.is_scalar for a in args)
        return self.make("mul" if scaling else "matmul", args, span, scope)

    def make(self, op: str, args: list[Value], span: Span, scope: Scope, data=None,
             written: tuple[ast.Expr, ...] = ()) -> Value:
        """The node op(*args), or Invalid with its error. `written`: the
        operands as written, for a hint that names one of them."""
        if Invalid in map(type, args):
            self.suggest_declarations(op, args)
            return Invalid()
        if scope.in_function and not OPS[op].elementwise:
            return self.not_scalar(OPS[op].symbol, span, scope)
        for index, arg in enumerate(args):
            if arg.op == "variable" and op not in ID_OPERATIONS and self.ids_of(arg) is not None:
                return self.ids_misused(arg, written[index].span if written else span)
        try:
            shape = shape_of(op, [a.shape for a in args], data)
        except ShapeError as error:
            return self.error(span, error.message, self.transpose_hint(op, args, written) or error.hint)
        return forward_form(Node(op, tuple(args), shape, span, data=data))

    def not_scalar(self, what: str, span: Span, scope: Scope) -> Invalid:
        """The error of a matrix operation in a function body."""
        return self.error(span, f"a function body is a scalar formula; '{what}' is not allowed in "
                                f"'{scope.in_function}'",
                          "use elementwise operations, numbers and the function's arguments")

    def transpose_hint(self, op: str, args: list[Node], written: tuple[ast.Expr, ...]) -> str | None:
        """For a vector the wrong way round beside a matrix (a bias written as
        a row, `W X + bᵀ`): a hint that names its transpose, when that fits."""
        if not any(a.shape.rows != 1 and a.shape.cols != 1 for a in args):
            return None
        for index, (arg, expr) in enumerate(zip(args, written)):
            if arg.shape.is_scalar or arg.shape.cols != 1 and arg.shape.rows != 1:
                continue
            shapes = [a.shape for a in args]
            shapes[index] = arg.shape.T
            try:
                OPS[op].shape(*shapes)
            except ShapeError:
                continue
            text = self.program.source.snippet(expr.span)
            was = "a row vector" if arg.shape.is_row else "a column vector"
            if type(expr) is ast.Transpose:  # bᵀ: drop the mark
                transposed = self.program.source.snippet(expr.operand.span)
            else:
                transposed = f"{text}ᵀ" if type(expr) in (ast.Name, ast.Group, ast.Call, ast.Norm) else f"({text})ᵀ"
            return f"'{text}' is {was} {arg.shape}; its transpose fits: write {transposed}"
        return None

    def suggest_declarations(self, op: str, args: list[Value]):
        """Complete an undeclared name's error with the shape its use implies."""
        if len(args) != 2:
            return
        for unknown, known, position in ((args[0], args[1], "left"), (args[1], args[0], "right")):
            if not (isinstance(unknown, Invalid) and unknown.unknown and isinstance(known, Node)):
                continue
            shape = None
            if OPS[op].elementwise and not known.shape.is_scalar:
                shape = known.shape
            elif op in ("matmul", "mul") and position == "right" and not known.shape.is_scalar:
                shape = column(known.shape.cols)
            if shape is not None:
                unknown.unknown.hint = (f"declare it before this line, e.g. `input {unknown.name} : {shape}` "
                                        "(or `param`)")

    # ------------------------------------------------------------- names
    def resolve(self, name: ast.Name, scope: Scope) -> Value:
        if name.id in scope.arguments:
            return scope.arguments[name.id]
        if name.id in BUILTINS:
            return self.error(name.span, f"'{name.id}' is a built-in function; call it as {name.id}(...)")
        kind = self.kinds.get(name.id, (None,))[0]
        if kind is None and name.id in CONSTANTS and name.id not in self.declared_later:
            return Node("number", (), SCALAR, name.span, data=CONSTANTS[name.id])
        if kind is None:
            return self.unknown_name(name, None, scope.arguments)
        if kind == "function":
            return self.error(name.span, f"'{name.id}' is a function; call it as {name.id}(...)")
        if scope.in_function:
            variable = self.program.variables.get(name.id)
            if variable is not None and variable.value is not None:
                return variable.node
            return self.error(name.span, f"a function body may use only its arguments, numbers and consts "
                                         f"with a value; '{name.id}' is {_kind_word(kind)}",
                              f"make '{name.id}' an argument of '{scope.in_function}'")
        if kind == "dim":
            return dimension_value(name.id, name.span)
        if kind == "variable":
            variable = self.program.variables.get(name.id)
            return variable.node if variable else Invalid()
        return self.program.definitions.get(name.id) or Invalid()

    def unknown_name(self, name: ast.Name, kinds: set[str] | None, extra=()) -> Invalid:
        if name.id in self.unparsed_names:
            return Invalid()
        later = self.declared_later.get(name.id)
        if later is not None and later != name.span:
            self.error(name.span, f"'{name.id}' is used before its declaration at line {later.line}",
                       "declare or define a name above its first use")
            return Invalid()
        message = f"unknown name '{name.id}'"
        close = self.close_name(name.id, kinds, extra)
        if close:
            message += f"; did you mean '{close}'?"
        diagnostic = Diagnostic(name.span, message,
                                "declare it with `param NAME : TYPE` or `input NAME : TYPE`, "
                                "or define it with `NAME = ...` above this line")
        self.diagnostics.append(diagnostic)
        return Invalid(diagnostic, name.id)

    # ------------------------------------------------------------- calls
    def call(self, expr: ast.Call, args: list[Value], scope: Scope) -> Value:
        func = expr.func
        kind = self.kinds.get(func.id, (None,))[0]
        if self.is_value(func, scope):  # `W (x, y)` (regroup made `W (x)` a product)
            return self.error(func.span, f"'{func.id}' is {_kind_word(kind or 'variable')}, not a function; "
                                         f"it cannot take {len(args)} arguments")
        if kind == "function":
            function = self.program.functions.get(func.id)
            if function is None:
                return Invalid()
            if len(args) != len(function.params):
                return self.error(func.span, f"'{func.id}' takes {len(function.params)} "
                                             f"argument{'s' if len(function.params) != 1 else ''}, got {len(args)}")
            return self.make("apply", args, func.span, scope, data=func.id)
        builtin = BUILTINS.get(func.id)
        if builtin is None and func.id in NUMPY_FUNCTIONS and kind is None:
            written = [self.program.source.snippet(arg.span) for arg in expr.args]
            return self.error(func.span, f"'{func.id}' is NumPy's; a model has no function of that name",
                              f"write {in_model_spelling(func.id, written)}")
        if builtin is None:
            if func.id in self.unparsed_names:
                return Invalid()
            if func.id == scope.in_function:
                return self.error(func.span, f"'{func.id}' cannot call itself")
            if self.allow_undefined_functions and kind is None and func.id not in self.declared_later:
                # `derive` shows f'(z) for a function it has no formula for.
                self.program.undefined_functions.setdefault(func.id, func.span)
                return self.make("apply", args, func.span, scope, data=func.id)
            return self.unknown_function(func, scope)
        if not builtin.min_args <= len(args) <= builtin.max_args:
            count = (str(builtin.min_args) if builtin.max_args == builtin.min_args
                     else f"{builtin.min_args} or {builtin.max_args}")
            return self.error(func.span, f"'{func.id}' takes {count} argument{'s' if count != '1' else ''}, "
                                         f"got {len(args)}")
        defaults = builtin.defaults[len(args) - builtin.min_args:]
        args = args + [Node("number", (), SCALAR, func.span, data=value) for value in defaults]
        op = builtin.op
        if op in ("identity", "fill"):
            return self.constant_array(expr, args, op, scope)
        if op in ("pick", "onehot"):
            return self.pick_or_onehot(expr, args, scope)
        if op in ("rowmean", "colmean"):  # the sum over the count of entries summed
            total = self.make(f"{op[:3]}sum", args, func.span, scope)
            if isinstance(total, Invalid):
                return total
            count = args[0].shape.cols if op == "rowmean" else args[0].shape.rows
            return self.make("div", [total, dimension_value(count, func.span)], func.span, scope)
        if op == "diag":
            operand = args[0]
            if isinstance(operand, Node) and operand.shape.is_scalar:
                return operand  # a 1×1 matrix is its own diagonal, and its own diagonal matrix
            op = "diag_matrix" if isinstance(operand, Node) and operand.shape.is_column else "diag_vector"
        return self.make(op, args, func.span, scope, written=expr.args)

    def constant_array(self, expr: ast.Call, args: list[Value], op: str, scope: Scope) -> Value:
        """eye(n), ones(n), ones(n, m): their arguments are dimensions (a
        dimension's name, a whole number, or an expression of them: ones(n + 1)),
        not values. ones(n) is ones(n, 1)."""
        if scope.in_function:
            return self.not_scalar(expr.func.id, expr.func.span, scope)
        dims = []
        for arg, written in zip(args, [*expr.args, None]):
            if isinstance(arg, Invalid):
                return arg
            dim = dim_of(arg) if arg.shape.is_scalar else None
            where = expr.func.span if written is None else written.span
            if dim is not None and always(dim, 1) is not False:
                self.require(dim, 1, where, "", f"{expr.func.id}({dim_text(dim)}) needs {dim_text(dim)} >= 1")
                dims.append(dim)
            else:
                return self.error(written.span, f"'{expr.func.id}' takes dimensions (a dimension's name or a "
                                                f"whole number), not {self.program.source.snippet(written.span)}",
                                  f"e.g. {expr.func.id}(n) with n a dimension of a declared type")
        span = expr.func.span
        shape = Shape(dims[0], dims[0] if op == "identity" else dims[1])
        one = Node("number", (), SCALAR, span, data=1.0)
        if shape.is_scalar:  # eye(1), ones(1): a 1×1 matrix is a scalar
            return one
        if op == "identity":
            return Node("identity", (), shape, span, data=dims[0])
        return Node("fill", (one,), shape, span, data=shape.dims())

    def unknown_function(self, func: ast.Name, scope: Scope) -> Invalid:
        later = self.declared_later.get(func.id)
        if later is not None:
            return self.error(func.span, f"'{func.id}' is used before its definition at line {later.line}",
                              "define a function above its first use")
        close = self.close_name(func.id, {"function"}, BUILTINS)
        message = f"unknown function '{func.id}'" + (f"; did you mean '{close}'?" if close else "")
        return self.error(func.span, message, f"define it with `{func.id}(t) = ...` above this line")


def undefined_function_warnings(program: Program) -> list[Diagnostic]:
    """A warning for each function that `derive` took without a formula and
    whose name is close to a function's (`sigmod`, a misspelt sigmoid):
    derive would otherwise print it as a function of its own, sigmod'(z),
    without a word. A name like no function's (`g`) is taken to be meant."""
    index = NameIndex([*BUILTINS, *program.functions])
    warnings = []
    for name, span in program.undefined_functions.items():
        close = likest(name, index.near(near_keys(name)))
        if close is not None:
            warnings.append(Diagnostic(
                span, f"unknown function '{name}'; did you mean '{close}'?",
                f"derive writes it as a function without a formula, {name}'(…); define it with "
                f"`{name}(t) = ...` if that is what you meant", severity="warning"))
    return warnings


def dimension_value(dim: Dim, span: Span) -> Node:
    """A dimension's size as a scalar value (a `dimension` node's data is a
    symbol or a polynomial of them)."""
    if isinstance(dim, int):
        return Node("number", (), SCALAR, span, data=float(dim))
    return Node("dimension", (), SCALAR, span, data=dim, name=dim if isinstance(dim, str) else None)


def lower(source: Source, statements: list[ast.Statement], allow_undefined_functions: bool = False) -> Program:
    """The checked IR of a parsed file, or ModelError with every error found.
    With allow_undefined_functions, a call of a function that is nowhere
    defined is an elementwise function without a formula (for `derive`)."""
    return Lowering(source, allow_undefined_functions).run(statements)


def analyze(source: Source, allow_undefined_functions: bool = False) -> Program:
    """Parse and check a model: text to IR, or ModelError with every error,
    those of syntax and those of meaning together."""
    with collector_paused():
        parsed = read_statements(source)
        return Lowering(source, allow_undefined_functions, parsed).run(parsed.statements)


def read_as(source: Source) -> dict[str, ast.Expr]:
    """How each definition's and function's formula is read, by its name:
    the syntax tree as Lowering.regroup groups it, where every call of a
    value is a product (`symgrad shapes --explicit` prints it). ModelError
    if the model has an error."""
    with collector_paused():
        parsed = read_statements(source)
        lowering = Lowering(source, parsed=parsed)
        lowering.run(parsed.statements)
    formulas = {}
    for statement in parsed.statements:
        if isinstance(statement, ast.Definition):
            scope, formula = Scope(), statement.expr
        elif isinstance(statement, ast.Function):
            scope, formula = Scope(dict.fromkeys(p.id for p in statement.params)), statement.body
        else:
            continue
        formulas[statement.name.id] = ast.rebuild(formula, lambda expr: lowering.regroup(expr, scope))
    return formulas


@contextmanager
def collector_paused():
    """Pause Python's cycle collector. Checking a large model makes millions
    of objects and no cycles, and the collector would scan them again and
    again: it nearly doubled the time to check a 100,000-line file."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
