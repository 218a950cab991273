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
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import syntax as ast
from .ir import GradRequest, Node, Program, UserFunction, Variable
from .ops import BUILTINS, OPS
from .parsing import ParsedFile, read_statements
from .shapes import SCALAR, Shape, ShapeError, column
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
        # The likest; of equally like ones, the one with more of the mistake's
        # letters in their case (`aa`: `a` before `A`); then the first name.
        scored = [(-likeness(name, c), -sum(letter in name for letter in c), c) for c in candidates if c != name]
        best = min(scored, default=None)
        return best[2] if best and -best[0] >= 0.6 else None

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
        for statement in grads:
            self.grad(statement)
        if not grads and not self.unparsed_grad:
            self.diagnostics.append(Diagnostic(
                Span.point(*self.program.source.end_of_text()), "no grad statement: nothing to differentiate",
                f"add a line such as `{self.suggested_grad()}`: a scalar and the variables to differentiate it by",
                of_file=True))
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
        for dim in type_.dims:
            if isinstance(dim.value, int):
                if dim.value <= 0:
                    self.error(dim.span, f"a dimension must be a positive integer, got {dim.value}")
                    return None
            elif self.kinds.get(dim.value, ("dim",))[0] != "dim" or dim.value in BUILTINS:
                kind = "a built-in function" if dim.value in BUILTINS else _kind_word(self.kinds[dim.value][0])
                self.error(dim.span, f"'{dim.value}' is {kind}, not a dimension",
                           "each name is one thing in a file: choose another name for the dimension")
                return None
            elif dim.value not in self.kinds:
                self.claim(dim.value, "dim", dim.span)
                self.program.dims[dim.value] = dim.span
            dims.append(dim.value)
        if len(dims) == 0:
            return SCALAR
        if len(dims) == 1:
            return column(dims[0])
        return Shape(dims[0], dims[1])

    def add_variable(self, name: ast.Name, kind: str, shape: Shape, span: Span, value=None):
        node = Node("variable", (), shape, name.span, data=name.id, name=name.id)
        self.program.variables[name.id] = Variable(name.id, kind, shape, span, node, value)

    def declaration(self, statement: ast.Declaration):
        # A declaration with a wrong type still claims its name, so that its
        # uses report nothing more.
        shape = self.type_shape(statement.type)
        if self.introduce(statement.name, "variable") and shape is not None:
            self.add_variable(statement.name, statement.kind, shape, statement.span)

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

    def grad(self, statement: ast.Grad):
        target = statement.target
        kind = self.kinds.get(target.id, (None,))[0]
        if kind == "definition" and target.id in self.program.definitions:
            node = self.program.definitions[target.id]
        elif kind == "variable" and target.id in self.program.variables:
            node = self.program.variables[target.id].node
        elif kind is None and target.id not in self.declared_later:
            self.unknown_name(target, {"definition", "variable"})
            return
        else:  # a dimension, a function, or a statement that failed to check
            if kind in ("dim", "function"):
                self.error(target.span, f"'{target.id}' is {_kind_word(kind)}; grad needs a scalar value")
            return
        if not node.shape.is_scalar:
            self.error(target.span, f"grad needs a scalar, but '{target.id}' is {node.shape} {node.shape.brackets}",
                       f"reduce it to a scalar first, e.g. sum({target.id})")
            return
        if any(request.target == target.id for request in self.program.grads):
            self.error(target.span, f"'{target.id}' already has a grad statement",
                       "name every variable in one `wrt` list")
            return
        wrt = self.wrt_variables(statement)
        if wrt is not None:
            self.program.grads.append(GradRequest(target.id, node, tuple(wrt), statement.span))

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
        """`a (b + 1)^2` is a (b + 1)², not (a (b + 1))²: the parser reads
        `a (b + 1)` as a call, so a power or transpose after it binds to the
        call; when `a` is a value, it belongs to the bracket instead."""
        chain = []
        node = expr
        while isinstance(node, ast.Transpose) or (
                isinstance(node, ast.Binary) and node.op in ("power", "elementwise_power")):
            chain.append(node)
            node = node.operand if isinstance(node, ast.Transpose) else node.left
        if not (chain and isinstance(node, ast.Call) and len(node.args) == 1 and self.is_value(node.func, scope)):
            return expr
        inner = node.args[0]
        for postfix in reversed(chain):
            if isinstance(postfix, ast.Transpose):
                inner = ast.Transpose(inner, inner.span.to(postfix.span), postfix.op_span)
            else:
                inner = ast.Binary(postfix.op, inner, postfix.right, inner.span.to(postfix.span), postfix.op_span)
        return ast.Binary("juxtapose", node.func, inner, expr.span, node.open_span)

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
        return self.make("norm", args, expr.span, scope)

    def binary(self, expr: ast.Binary, args: list[Value], scope: Scope) -> Value:
        op = expr.op
        if op in ("add", "sub"):
            return self.make(op, args, expr.op_span, scope)
        if op in ("star", "at", "juxtapose"):
            return self.product(args, expr.op_span, scope)
        if op == "hadamard":
            return self.make("mul", args, expr.op_span, scope)
        if op == "divide":
            return self.make("div", args, expr.op_span, scope)
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
        minus_one = (isinstance(expr.right, ast.Negate) and isinstance(expr.right.operand, ast.Number)
                     and expr.right.operand.value == 1)
        if minus_one:
            return self.make("inv", [base], expr.op_span, scope)
        return self.error(expr.op_span, f"'^' raises a scalar to a power, but its base is {base.shape} "
                                        f"{base.shape.brackets}",
                          "for the elementwise power write A .^ k; A^-1 is the inverse of a square matrix")

    def product(self, args: list[Value], span: Span, scope: Scope) -> Value:
        """Juxtaposition, `*` and `@`: a matrix product, or scaling when one
        factor is a scalar."""
        left, right = args
        scaling = any(isinstance(a, Node) and a.shape.is_scalar for a in args)
        return self.make("mul" if scaling else "matmul", args, span, scope)

    def make(self, op: str, args: list[Value], span: Span, scope: Scope, data=None) -> Value:
        if Invalid in map(type, args):
            self.suggest_declarations(op, args)
            return Invalid()
        if scope.in_function and not OPS[op].elementwise:
            return self.error(span, f"a function body is a scalar formula; '{OPS[op].symbol}' is not allowed in "
                                    f"'{scope.in_function}'",
                              "use elementwise operations, numbers and the function's arguments")
        try:
            shape = OPS[op].shape(*[a.shape for a in args])
        except ShapeError as error:
            return self.error(span, error.message, error.hint)
        return forward_form(Node(op, tuple(args), shape, span, data=data))

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
            return Node("dimension", (), SCALAR, name.span, data=name.id, name=name.id)
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
        if self.is_value(func, scope):
            # `W (x + b)`: a product, not a call.
            if len(args) != 1:
                return self.error(func.span, f"'{func.id}' is {_kind_word(kind or 'variable')}, not a function; "
                                             f"it cannot take {len(args)} arguments")
            return self.product([self.resolve(func, scope), args[0]], expr.open_span, scope)
        if kind == "function":
            function = self.program.functions.get(func.id)
            if function is None:
                return Invalid()
            if len(args) != len(function.params):
                return self.error(func.span, f"'{func.id}' takes {len(function.params)} "
                                             f"argument{'s' if len(function.params) != 1 else ''}, got {len(args)}")
            return self.make("apply", args, func.span, scope, data=func.id)
        builtin = BUILTINS.get(func.id)
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
        if op == "diag":
            operand = args[0]
            if isinstance(operand, Node) and operand.shape.is_scalar:
                return operand  # a 1×1 matrix is its own diagonal, and its own diagonal matrix
            op = "diag_matrix" if isinstance(operand, Node) and operand.shape.is_column else "diag_vector"
        return self.make(op, args, func.span, scope)

    def unknown_function(self, func: ast.Name, scope: Scope) -> Invalid:
        later = self.declared_later.get(func.id)
        if later is not None:
            return self.error(func.span, f"'{func.id}' is used before its definition at line {later.line}",
                              "define a function above its first use")
        close = self.close_name(func.id, {"function"}, BUILTINS)
        message = f"unknown function '{func.id}'" + (f"; did you mean '{close}'?" if close else "")
        return self.error(func.span, message, f"define it with `{func.id}(t) = ...` above this line")


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
