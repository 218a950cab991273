"""Printing IR in matrix notation, as the lecture writes it.

One printer class per target (Unicode, ASCII, LaTeX), one method per
operation (`_print_<op>`), in the manner of SymPy's printers. An operation
without a method is an error, never printed silently.

A printer can print a value transposed (`transposed=True`): the transpose is
pushed inside, (A B)ᵀ = Bᵀ Aᵀ and (a ∘ b)ᵀ = aᵀ ∘ bᵀ, so that a column's
error signal reads as the lecture's row: δ = uᵀ ∘ f'(z)ᵀ.
"""

from __future__ import annotations

import math
import re

from .ir import Node, postorder
from .ops import OPS
from .shapes import dim_add, dim_text

# Binding strength, loosest first.
SUM, PRODUCT, UNARY, POSTFIX, ATOM = range(5)

SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class Printer:
    """Unicode matrix notation."""

    transpose_mark = "ᵀ"
    pi = "π"
    inverse_mark = "⁻¹"
    hadamard = " ∘ "
    minus = " - "
    partial = "∂"
    delta = "δ"
    maps_to = " ↦ "
    ge_symbol = "≥"
    chain_dot = " · "
    function_names = {"sigmoid": "σ"}

    def __init__(self, names: dict[int, tuple[str, bool]] | None = None,
                 arities: dict[str, int] | None = None, matrix_terms: bool = False):
        # names: node id -> (name, flipped): print that node by name (forward
        # definitions, error signals); flipped: the name stands for its transpose.
        # arities: function name -> how many of its operands to show.
        # matrix_terms: a scalar term of a matrix sum at the top of a formula
        # is written c 𝟏 (matrix_sums); derive's derivatives are so written,
        # the model's own formulas (and the code's comments) as the model has them.
        self.names = names or {}
        self.arities = arities or {}
        self.matrix_terms = matrix_terms
        # While a call from outside prints: (node id, transposed) -> (node, its print).
        self._printed: dict[tuple[int, bool], tuple[Node, tuple[str, int]]] | None = None
        # ... and the ids of the sums at the top of the value it prints (matrix_sums).
        self._matrix_sums: set[int] = set()

    # -------------------------------------------------------------- core
    def doc(self, node: Node, transposed: bool = False) -> str:
        return self.print(node, transposed)[0]

    def print(self, node: Node, transposed: bool = False) -> tuple[str, int]:
        """(text, binding strength) of node, or of its transpose.

        Depth-safe: a call from outside first prints every value below node
        (down to the named ones), operands before users, both ways round, in
        the order of an explicit stack (ir.postorder). Each method then finds
        its operands already printed, and no call goes deeper than the few
        levels of one operation's expansion, however deep the expression.
        A value's print is let go once every value that reads it is printed:
        a sum of n terms, each its own text, would otherwise keep n partial
        sums of up to n terms each."""
        transposed = transposed and not node.shape.is_scalar
        if self._printed is not None:
            found = self._printed.get((id(node), transposed))
            return found[1] if found is not None else self._print_one(node, transposed)
        order = postorder([node], stop=self.names)
        reads = [self._reads(each) for each in order]
        readers_left: dict[int, int] = {}
        for each_reads in reads:
            for read in each_reads:
                readers_left[id(read)] = readers_left.get(id(read), 0) + 1
        self._printed = {}
        self._matrix_sums = self.matrix_sums(node) if self.matrix_terms else set()
        try:
            for each, each_reads in zip(order, reads):
                for way in (False, True) if not each.shape.is_scalar else (False,):
                    self._printed[(id(each), way)] = (each, self._print_one(each, way))
                for read in each_reads:
                    readers_left[id(read)] -= 1
                    if readers_left[id(read)] == 0:
                        self._printed.pop((id(read), False), None)
                        self._printed.pop((id(read), True), None)
            return self._printed[(id(node), transposed)][1]
        finally:
            self._printed = None

    def matrix_sums(self, node: Node) -> set[int]:
        """The ids of the sums and differences at the top of node's formula
        that are matrices (or vectors): node itself, and their terms that are
        such sums again. A scalar term there is written as the filled matrix it
        stands for, c 𝟏 (∂y/∂A = 𝟏 + W, not 1 + W, which reads as a number);
        inside a product or a call it broadcasts as written (G ∘ (1 - y ∘ y))."""
        sums, stack = set(), [node]
        while stack:
            each = stack.pop()
            if each.op in ("add", "sub") and not each.shape.is_scalar and id(each) not in self.names:
                sums.add(id(each))
                stack.extend(each.args)
        return sums

    def term(self, node: Node, operand: Node, level: int, t: bool) -> str:
        """An operand of the sum or difference node, as wrap writes it; a
        scalar spread over a matrix sum at the top of the formula as c 𝟏."""
        if id(node) in self._matrix_sums and operand.shape.is_scalar:
            text, strength = self.filled(operand, t)
            return text if strength >= level else self.group(text)
        return self.wrap(operand, level, t)

    def _reads(self, node: Node) -> set[Node]:
        """The values whose print node's print reads: its operands, and for a
        sum the factors of its terms (P x + Q x is written (P + Q) x)."""
        if id(node) in self.names:
            return set()
        reads = {id(arg): arg for arg in node.args}
        if node.op == "add":
            for term in node.args:
                for factor, _ in self.product_split(term, False) or ():
                    reads[id(factor)] = factor
        return set(reads.values())

    def _print_one(self, node: Node, transposed: bool) -> tuple[str, int]:
        entry = self.names.get(id(node))
        if entry is not None:
            name, flipped = entry
            return self.transposed_atom(name, transposed != flipped)
        method = getattr(self, f"_print_{node.op}", None)
        if method is None and OPS[node.op].expansion is not None:  # a fused operation: as its math
            return self.print(OPS[node.op].expansion(*node.args), transposed)
        if method is None:
            raise TypeError(f"{type(self).__name__} has no method for operation '{node.op}'")
        return method(node, transposed)

    def wrap(self, node: Node, level: int, transposed: bool = False) -> str:
        text, strength = self.print(node, transposed)
        return text if strength >= level else self.group(text)

    def group(self, text: str) -> str:
        return f"({text})"

    def postfix(self, text: str, mark: str) -> str:
        return text + mark

    def transposed_atom(self, text: str, transposed: bool) -> tuple[str, int]:
        return (self.postfix(text, self.transpose_mark), POSTFIX) if transposed else (text, ATOM)

    def number(self, value: float) -> str:
        if value == math.pi:  # a model's π (or pi)
            return self.pi
        return f"{value:g}"

    call_names = {"diag_matrix": "diag", "diag_vector": "diag"}

    def call(self, name: str, args: list[str]) -> str:
        name = self.call_names.get(name, name)
        return f"{self.function_names.get(name) or self.function_symbol(name)}({', '.join(args)})"

    def function_symbol(self, name: str) -> str:
        """A user function's name, or a derived one's (f', ∂g/∂a)."""
        return name

    def elementwise_call(self, name: str, node: Node, transposed: bool, args=None) -> tuple[str, int]:
        args = node.args if args is None else args
        return self.transposed_atom(self.call(name, [self.doc(a) for a in args]), transposed)

    # ------------------------------------------------------------ leaves
    def _print_variable(self, node, t):
        return self.transposed_atom(self.symbol(node.data), t)

    _print_argument = _print_variable
    _print_dimension = _print_variable

    def symbol(self, name: str) -> str:
        return name

    def _print_number(self, node, t):
        text = self.number(node.data)
        return text, (ATOM if node.data >= 0 else UNARY)

    def _print_identity(self, node, t):
        return "I", ATOM

    def _print_zeros(self, node, t):
        return "0", ATOM

    # -------------------------------------------------------- arithmetic
    def _print_add(self, node, t):
        a, b = node.args
        factored = self.common_right_factor(a, b, t)
        if factored:
            return factored, PRODUCT
        left, right = self.term(node, a, SUM, t), self.term(node, b, SUM, t)
        if right.startswith("-"):  # a + (-b) is written a - b: a leading minus negates its whole term
            return f"{left}{self.minus}{right[1:]}", SUM
        return f"{left} + {right}", SUM

    def common_right_factor(self, a: Node, b: Node, t: bool) -> str | None:
        """P x + Q x written (P + Q) x: the closed forms of matrix calculus,
        d/dx xᵀ A x = (A + Aᵀ) x. Plain terms go before transposed ones."""
        split_a, split_b = self.product_split(a, t), self.product_split(b, t)
        if not (split_a and split_b) or split_a[1][0] is not split_b[1][0] or split_a[1][1] != split_b[1][1]:
            return None
        (rest_a, last), (rest_b, _) = split_a, split_b
        if rest_a[1] and not rest_b[1]:
            rest_a, rest_b = rest_b, rest_a
        terms = f"{self.wrap(rest_a[0], SUM, rest_a[1])} + {self.wrap(rest_b[0], SUM, rest_b[1])}"
        return f"{self.group(terms)} {self.wrap(last[0], PRODUCT + 1, last[1])}"

    def product_split(self, node: Node, t: bool):
        """node (transposed if t) as rest · last, each (node, transposed);
        None when it is no matrix product."""
        node, t = self.untransposed((node, t))
        if id(node) in self.names or node.op != "matmul":
            return None
        a, b = node.args
        rest, last = ((b, True), (a, True)) if t else ((a, False), (b, False))
        return self.untransposed(rest), self.untransposed(last)

    def untransposed(self, factor):
        """(Xᵀ, t) as (X, not t), so that equal factors compare equal."""
        node, t = factor
        while node.op == "transpose" and id(node) not in self.names:
            node, t = node.args[0], not t
        return node, t

    def _print_sub(self, node, t):
        a, b = node.args
        return f"{self.term(node, a, SUM, t)}{self.minus}{self.term(node, b, PRODUCT, t)}", SUM

    def _print_neg(self, node, t):
        operand = self.wrap(node.args[0], PRODUCT, t)
        return f"-{self.group(operand) if operand.startswith('-') else operand}", UNARY  # -(-x), never --x

    def _print_mul(self, node, t):
        a, b = node.args
        if a.shape.is_scalar or b.shape.is_scalar:  # scaling: juxtapose, scalar first (2 (-x), as below)
            scalar, other = (a, b) if a.shape.is_scalar else (b, a)
            if scalar.op == "number" and scalar.data == -1:  # (-1) x is -x
                return self._print_neg(Node("neg", (other,), node.shape, node.span), t)
            return f"{self.wrap(scalar, POSTFIX)} {self.wrap(other, POSTFIX, t)}", PRODUCT
        return f"{self.wrap(a, PRODUCT, t)}{self.hadamard}{self.wrap(b, PRODUCT + 1, t)}", PRODUCT

    def _print_div(self, node, t):
        a, b = node.args
        return f"{self.wrap(a, PRODUCT, t)} / {self.wrap(b, PRODUCT + 1, t)}", PRODUCT

    def _print_matmul(self, node, t):
        a, b = node.args
        if t:  # (A B)ᵀ = Bᵀ Aᵀ
            a, b = b, a
        # A sign on the right is grouped: Xᵀ (-g), not Xᵀ -g, which reads as a difference.
        return f"{self.wrap(a, PRODUCT, t)} {self.wrap(b, POSTFIX, t)}", PRODUCT

    def _print_pow(self, node, t):
        base, exponent = node.args
        if exponent.op == "number" and float(exponent.data).is_integer():
            mark = self.power_mark(int(exponent.data))
            return self.postfix(self.wrap(base, ATOM, t), mark), POSTFIX
        return f"{self.wrap(base, ATOM, t)}^{self.wrap(exponent, ATOM)}", POSTFIX

    def power_mark(self, k: int) -> str:
        return str(k).translate(SUPERSCRIPTS)

    def _print_transpose(self, node, t):
        # Pushed inside: (A B)ᵀ = Bᵀ Aᵀ, (A⁻¹)ᵀ = A⁻ᵀ, (c X)ᵀ = c Xᵀ.
        return self.print(node.args[0], transposed=not t)

    def _print_inv(self, node, t):
        mark = self.inverse_mark if not t else self.inverse_transpose_mark()
        return self.postfix(self.wrap(node.args[0], ATOM), mark), POSTFIX

    def inverse_transpose_mark(self) -> str:
        return "⁻ᵀ"

    # --------------------------------------------------------- functions
    def _print_apply(self, node, t):
        shown = node.args[: self.arities.get(node.data, len(node.args))]
        return self.elementwise_call(node.data, node, t, shown)

    def _print_gt(self, node, t):
        a, b = node.args
        return self.indicator(f"{self.doc(a, t)} > {self.doc(b, t)}"), ATOM

    def _print_ge(self, node, t):
        a, b = node.args
        return self.indicator(f"{self.doc(a, t)} {self.ge_symbol} {self.doc(b, t)}"), ATOM

    def _print_where_gt(self, node, t):
        a, b, x = node.args
        return self.gate(x, self.indicator(f"{self.doc(a, t)} > {self.doc(b, t)}"), t)

    def _print_where_ge(self, node, t):
        a, b, x = node.args
        return self.gate(x, self.indicator(f"{self.doc(a, t)} {self.ge_symbol} {self.doc(b, t)}"), t)

    def gate(self, x: Node, indicator: str, t: bool) -> tuple[str, int]:
        if x.op == "number" and x.data == 1 and id(x) not in self.names:  # 1 ∘ [a > b] is [a > b]
            return indicator, ATOM
        return f"{self.wrap(x, PRODUCT, t)}{self.hadamard}{indicator}", PRODUCT

    def _print_sqnorm(self, node, t):
        return self.postfix(self._print_norm(node, t)[0], self.power_mark(2)), POSTFIX

    def indicator(self, condition: str) -> str:
        return f"[{condition}]"

    def _print_norm(self, node, t):
        return f"‖{self.doc(node.args[0])}‖", ATOM

    def _print_fill(self, node, t):
        return self.filled(node.args[0], t)

    def filled(self, a: Node, t: bool) -> tuple[str, int]:
        """The scalar a spread over a matrix (or vector): a 𝟏."""
        if a.op == "number" and a.data == 1 and id(a) not in self.names:  # 1 spread is 𝟏, not 1 𝟏
            return self.transposed_atom(self.ones(), t)  # ones(n)ᵀ is 𝟏ᵀ
        return f"{self.wrap(a, POSTFIX, t)} {self.ones()}", PRODUCT

    def ones(self) -> str:
        return "𝟏"

    # ------------------------------------------------- indexing and blocks
    def indexed(self, base: Node, axes: list[str], t: bool) -> tuple[str, int]:
        """base[axes], as the notes index: L[:, w], x[w], z[0:h], A[2, 3]."""
        return self.transposed_atom(f"{self.wrap(base, ATOM)}[{', '.join(axes)}]", t)

    def axes(self, shape, rows: str, cols: str) -> list[str]:
        """The axes written for a value of `shape`: one for a vector, two for a matrix."""
        if shape.cols == 1:
            return [rows]
        if shape.rows == 1:
            return [cols]
        return [rows, cols]

    def span_text(self, start, stop, size) -> str:
        """An axis of a block: `:` (all of it), `i` (one), `a:b`."""
        if start == 0 and stop == size:
            return ":"
        if dim_add(stop, start, -1) == 1:
            return dim_text(start)
        return f"{dim_text(start)}:{dim_text(stop)}"

    def ids_axes(self, node: Node, shape) -> list[str]:
        """The axes of a gather or scatter by node's ids, of a value of `shape`."""
        ids = self.doc(node.args[1])
        axis = node.data if isinstance(node.data, str) else node.data[0]
        return self.axes(shape, ids if axis == "rows" else ":", ids if axis == "cols" else ":")

    def _print_gather(self, node, t):
        base = node.args[0]
        return self.indexed(base, self.ids_axes(node, base.shape), t)

    def _print_scatter(self, node, t):
        # G added into zeros at the ids (repeated ids summed)
        written = f"[{', '.join(self.ids_axes(node, node.shape))}]"
        return self.transposed_atom(self.call("scatter", [self.doc(node.args[0]), written]), t)

    def _print_block(self, node, t):
        base = node.args[0]
        r0, r1, c0, c1 = node.data
        rows = self.span_text(r0, r1, base.shape.rows)
        cols = self.span_text(c0, c1, base.shape.cols)
        return self.indexed(base, self.axes(base.shape, rows, cols), t)

    def _print_unblock(self, node, t):
        # G placed in zeros of the shape it was taken from
        r0, c0, rows, cols = node.data
        g = node.args[0].shape
        written = self.axes(node.shape, self.span_text(r0, dim_add(r0, g.rows), rows),
                            self.span_text(c0, dim_add(c0, g.cols), cols))
        return self.transposed_atom(self.call("unblock", [self.doc(node.args[0]), f"[{', '.join(written)}]"]), t)

    def _print_pick(self, node, t):
        return self.transposed_atom(self.call("pick", [self.doc(a) for a in node.args]), t)

    def _print_onehot(self, node, t):
        return self.transposed_atom(self.call("onehot", [self.doc(node.args[0]), dim_text(node.data)]), t)

    def _print_pick_scatter(self, node, t):
        """h at the ids, zeros elsewhere: onehot(y, C) ∘ h (c onehot(y, C) for h = c 𝟏)."""
        h, ids = node.args
        onehot = self.transposed_atom(self.call("onehot", [self.doc(ids), dim_text(node.data)]), t)[0]
        if h.op == "fill" and id(h) not in self.names:
            c = h.args[0]
            if c.op == "number" and c.data == 1 and id(c) not in self.names:
                return onehot, POSTFIX if t else ATOM
            return f"{self.wrap(c, POSTFIX)} {onehot}", PRODUCT
        return f"{onehot}{self.hadamard}{self.wrap(h, PRODUCT + 1, t)}", PRODUCT

    def stack(self, rows: list[list[str]]) -> str:
        """A block matrix: [A; B], [A, B], [A, B; C, D]."""
        return "[" + "; ".join(", ".join(row) for row in rows) + "]"

    def block_rows(self, node: Node, t: bool) -> list[list[str]]:
        """The rows of blocks of a stack (transposed if t): [A, B; C, D] is
        a vstack of hstacks, written as one block matrix."""
        if node.op not in ("vstack", "hstack") or id(node) in self.names:
            return [[self.doc(node, t)]]
        stacked = node.op == "vstack" and not t or node.op == "hstack" and t
        parts = [self.block_rows(a, t) if stacked else [[self.doc(a, t)]] for a in node.args]
        if stacked:
            return [row for part in parts for row in part]
        return [[block for part in parts for block in part[0]]]

    def _print_vstack(self, node, t):
        return self.stack(self.block_rows(node, t)), ATOM   # [A; B]ᵀ = [Aᵀ, Bᵀ]

    _print_hstack = _print_vstack

    def _print_exp(self, node, t):
        (a,) = node.args
        if a.op == "log_softmax" and id(a) not in self.names:  # exp(log_softmax(S)) is softmax(S)
            return self.transposed_atom(self.call("softmax", [self.doc(a.args[0])]), t)
        return self.elementwise_call("exp", node, t)

    def _structural(self, node, t):
        """A reduction or a per-column function: transposing it transposes the call."""
        text = self.call(node.op, [self.doc(a) for a in node.args])
        return self.transposed_atom(text, t)


for _op in ("log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh", "sigmoid", "relu",
            "softplus", "gelu", "hardtanh", "erf", "leaky_relu", "elu", "max", "min"):
    setattr(Printer, f"_print_{_op}", lambda self, node, t, _name=_op: self.elementwise_call(_name, node, t))
for _op in ("sum", "mean", "tr", "det", "logdet", "norm1", "rowsum", "colsum", "softmax",
            "log_softmax", "logsumexp", "diag_matrix", "diag_vector", "vec", "unvec"):
    setattr(Printer, f"_print_{_op}", Printer._structural)


class AsciiPrinter(Printer):
    """Plain ASCII, for terminals without Unicode."""

    transpose_mark = "^T"
    pi = "pi"
    inverse_mark = "^-1"
    hadamard = " .* "
    partial = "d"
    delta = "delta"
    maps_to = " -> "
    ge_symbol = ">="
    chain_dot = " * "
    function_names = {}

    def power_mark(self, k: int) -> str:
        return f"^{k}"

    def inverse_transpose_mark(self) -> str:
        return "^-T"

    def _print_norm(self, node, t):
        return f"||{self.doc(node.args[0])}||", ATOM

    def ones(self) -> str:
        return "ones"

    def symbol(self, name: str) -> str:
        return name if name.isascii() else name.encode("ascii", "backslashreplace").decode()

    def function_symbol(self, name: str) -> str:
        return self.symbol(name.replace("∂", "d"))


class LatexPrinter(Printer):
    """LaTeX, for documents and Jupyter."""

    transpose_mark = "^\\top"
    pi = "\\pi"
    inverse_mark = "^{-1}"
    hadamard = " \\circ "
    partial = "\\partial "
    delta = "\\delta"
    maps_to = " \\mapsto "
    ge_symbol = "\\geq"
    chain_dot = " \\cdot "
    function_names = {"sigmoid": "\\sigma", "exp": "\\exp", "log": "\\log", "sin": "\\sin", "cos": "\\cos",
                      "tan": "\\tan", "tanh": "\\tanh", "tr": "\\operatorname{tr}", "det": "\\det"}

    def group(self, text: str) -> str:
        return f"\\left({text}\\right)"

    def postfix(self, text: str, mark: str) -> str:
        return f"{{{text}}}{mark}"

    def power_mark(self, k: int) -> str:
        return f"^{{{k}}}"

    def inverse_transpose_mark(self) -> str:
        return "^{-\\top}"

    def call(self, name: str, args: list[str]) -> str:
        name = self.call_names.get(name, name)
        shown = self.function_names.get(name) or self.function_symbol(name)
        return f"{shown}\\left({', '.join(args)}\\right)"

    def function_symbol(self, name: str) -> str:
        written = self.symbol(name).replace("∂", "\\partial ")
        return f"\\operatorname{{{written}}}"

    def symbol(self, name: str) -> str:
        value_of = re.fullmatch(r"(.+?)\((.*)\)", name)
        if value_of:  # a derivative's parameter that stands for the function's value: f(t)
            return self.call(value_of[1], [self.symbol(a.strip()) for a in value_of[2].split(",")])
        return name.replace("_", "\\_")

    def _print_div(self, node, t):
        a, b = node.args
        return f"\\frac{{{self.doc(a, t)}}}{{{self.doc(b, t)}}}", ATOM

    def _print_norm(self, node, t):
        return f"\\left\\lVert {self.doc(node.args[0])} \\right\\rVert", ATOM

    def indicator(self, condition: str) -> str:
        return f"\\left[{condition}\\right]"

    def ones(self) -> str:
        return "\\mathbf{1}"

    def stack(self, rows: list[list[str]]) -> str:
        body = " \\\\ ".join(" & ".join(row) for row in rows)
        return f"\\begin{{bmatrix}} {body} \\end{{bmatrix}}"


PRINTERS = {"unicode": Printer, "ascii": AsciiPrinter, "latex": LatexPrinter}
