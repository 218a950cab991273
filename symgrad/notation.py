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
import unicodedata
from itertools import groupby

from . import syntax as ast
from .ir import Node, postorder
from .ops import BUILTINS, OPS
from .shapes import Shape, dim_add, dim_text

# Binding strength, loosest first.
SUM, PRODUCT, UNARY, POSTFIX, ATOM = range(5)

SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")

# Greek letters as LaTeX writes them (pdflatex reads no Unicode in formulas):
# the letters of a macro of their own, the capitals that look Latin as those
# letters, and the variant forms as their own macros (ε is \varepsilon in
# most fonts, ϵ \epsilon; φ is \varphi, ϕ \phi).
GREEK_LATEX = {
    **dict(zip("αβγδεζηθικλμνξοπρστυφχψω", (
        r"\alpha", r"\beta", r"\gamma", r"\delta", r"\varepsilon", r"\zeta", r"\eta", r"\theta", r"\iota",
        r"\kappa", r"\lambda", r"\mu", r"\nu", r"\xi", "o", r"\pi", r"\rho", r"\sigma", r"\tau", r"\upsilon",
        r"\varphi", r"\chi", r"\psi", r"\omega"))),
    **dict(zip("ΓΔΘΛΞΠΣΥΦΨΩ", (r"\Gamma", r"\Delta", r"\Theta", r"\Lambda", r"\Xi", r"\Pi", r"\Sigma",
                              r"\Upsilon", r"\Phi", r"\Psi", r"\Omega"))),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΧ", "ABEZHIKMNOPTX")),
    **dict(zip("ϵϑϕϱϖς", (r"\epsilon", r"\vartheta", r"\phi", r"\varrho", r"\varpi", r"\varsigma"))),
}
# A name is a base of letters, then digits or `_` and more: W1, W_1, N_all, λ2.
SUBSCRIPTED = re.compile(r"([^\W\d_]+)(?:([0-9]+)|_([^\W_]+(?:_[^\W_]+)*))")
GREEK_NAME = re.compile(r"GREEK (?:(SMALL|CAPITAL) LETTER (?:FINAL )?|(?:LUNATE )?)(\w+)(?: SYMBOL)?")


def spelled(char: str) -> str:
    """A character in ASCII: a Greek letter by its name (λ: lambda, Ω:
    Omega), another as Python escapes it (\\u00e9)."""
    found = GREEK_NAME.fullmatch(unicodedata.name(char, ""))
    if char.isascii() or not found:
        return char.encode("ascii", "backslashreplace").decode()
    name = found[2].lower().replace("lamda", "lambda")  # Unicode spells it LAMDA
    return name.capitalize() if found[1] == "CAPITAL" else name


def in_ascii(text: str) -> str:
    return text if text.isascii() else "".join(map(spelled, text))


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
    aside = "   "  # before a remark in brackets after a formula
    nabla = "∇"
    function_names = {"sigmoid": "σ"}

    def __init__(self, names: dict[int, tuple[str, bool]] | None = None,
                 arities: dict[str, int] | None = None, matrix_terms: bool = False,
                 diagonals: bool = False):
        # names: node id -> (name, flipped): print that node by name (forward
        # definitions, error signals); flipped: the name stands for its transpose.
        # arities: function name -> how many of its operands to show.
        # matrix_terms: a scalar term of a matrix sum at the top of a formula
        # is written c 𝟏 (matrix_sums); derive's derivatives are so written,
        # the model's own formulas (and the code's comments) as the model has them.
        self.names = names or {}
        self.arities = arities or {}
        self.matrix_terms = matrix_terms
        # diagonals: d ∘ B, a column d scaling the rows of a matrix B, is written
        # diag(d) B (B diag(d) for a row d), as second derivatives are in the
        # textbook (Xᵀ diag(σ'(z)) X); the code computes d ∘ B, never a diag.
        self.diagonals = diagonals
        self._directed: dict[int, tuple[Node, bool]] = {}  # node id -> (node, whether it depends on a direction)
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
    _print_direction = _print_variable   # v of a Hessian-vector product, u of a vector-Jacobian product

    def symbol(self, name: str) -> str:
        return name

    def _print_number(self, node, t):
        text = self.number(node.data)
        return text, (ATOM if node.data >= 0 else UNARY)

    def _print_identity(self, node, t):
        return "I", ATOM

    def _print_zeros(self, node, t):
        return "0", ATOM

    def _print_add_diagonal(self, node, t):
        """A + c I, and A + I where c is 1."""
        a, c = node.args
        identity = Node("identity", (), node.shape, node.span)
        if not (c.op == "number" and c.data == 1 and id(c) not in self.names):
            identity = Node("mul", (c, identity), node.shape, node.span)
        return self._print_add(Node("add", (a, identity), node.shape, node.span), t)

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
            # A product of scalars scales as one: 2 lambda W, not (2 lambda) W.
            level = PRODUCT if scalar.op == "mul" and all(s.shape.is_scalar for s in scalar.args) else POSTFIX
            return f"{self.wrap(scalar, level)} {self.wrap(other, POSTFIX, t)}", PRODUCT
        if self.diagonals and self.directed(a) and not self.directed(b):
            a, b = b, a  # σ'(z) ∘ (X v), as diag(σ'(z)) X v: the direction last
        scaling = self.diagonal_scaling(node)
        if scaling:
            vector, matrix = scaling
            diagonal = self.call("diag", [self.doc(vector, transposed=vector.shape.is_row)])
            if vector.shape.is_column != t:  # (d ∘ B)ᵀ = Bᵀ diag(d)
                return f"{diagonal} {self.factor(matrix, t)}", PRODUCT
            return f"{self.wrap(matrix, PRODUCT, t)} {diagonal}", PRODUCT
        # In second-order output a ∘ (b ∘ c) is a ∘ b ∘ c (the product associates).
        level = PRODUCT if self.diagonals and self.hadamard_of_vectors(b) else PRODUCT + 1
        return f"{self.wrap(a, PRODUCT, t)}{self.hadamard}{self.wrap(b, level, t)}", PRODUCT

    def hadamard_of_vectors(self, node: Node) -> bool:
        """Whether node is printed as a ∘ b, of two vectors (or matrices) of its shape."""
        return (node.op == "mul" and id(node) not in self.names and not node.shape.is_scalar
                and all(arg.shape == node.shape for arg in node.args) and not self.diagonal_scaling(node))

    def directed(self, node: Node) -> bool:
        """Whether node depends on a direction (v of a Hessian-vector
        product): memoized, each node's answer from its operands'."""
        memo = self._directed
        if id(node) not in memo:
            for each in postorder([node], stop=memo):
                if id(each) not in memo:  # the node kept with its answer: its id is not reused
                    memo[id(each)] = (each, each.op == "direction" or any(memo[id(arg)][1] for arg in each.args))
        return memo[id(node)][1]

    def factor(self, node: Node, t: bool) -> str:
        """A matrix product's right factor: a product of matrices (diag(d) B
        is one) without brackets, since the product is associative; any other
        product, or a value with a sign in front, in brackets."""
        text, strength = self.print(node, t)
        bare = (strength > PRODUCT or strength == PRODUCT and id(node) not in self.names
                and (node.op == "matmul" or self.diagonal_scaling(node)))
        return text if bare and not text.startswith("-") else self.group(text)

    def diagonal_scaling(self, node: Node) -> tuple[Node, Node] | None:
        """(d, B) where node is d ∘ B (or B ∘ d), d a vector and B a matrix
        of several rows and columns, printed as a product with diag(d);
        None otherwise or where the printer writes no diagonals."""
        if not self.diagonals or node.op != "mul" or id(node) in self.names:
            return None
        for vector, matrix in (node.args, node.args[::-1]):
            if (vector.shape.is_column or vector.shape.is_row) and 1 not in (matrix.shape.rows, matrix.shape.cols):
                return vector, matrix
        return None

    def _print_div(self, node, t):
        a, b = node.args
        return f"{self.wrap(a, PRODUCT, t)} / {self.wrap(b, PRODUCT + 1, t)}", PRODUCT

    def _print_matmul(self, node, t):
        a, b = node.args
        if t:  # (A B)ᵀ = Bᵀ Aᵀ
            a, b = b, a
        # A sign on the right is grouped: Xᵀ (-g), not Xᵀ -g, which reads as a difference;
        # diag(d) B is not: Xᵀ diag(d) X.
        right = self.factor(b, t) if self.diagonal_scaling(b) else self.wrap(b, POSTFIX, t)
        return f"{self.wrap(a, PRODUCT, t)} {right}", PRODUCT

    def _print_pow(self, node, t):
        base, exponent = node.args
        if exponent.op == "number" and float(exponent.data).is_integer():
            mark = self.power_mark(int(exponent.data))
            return self.postfix(self.wrap(base, ATOM, t), mark), POSTFIX
        return self.power(self.wrap(base, ATOM, t), self.wrap(exponent, ATOM)), POSTFIX

    def power(self, base: str, exponent: str) -> str:
        """base^exponent of an exponent other than a whole number."""
        return f"{base}^{exponent}"

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
        return self.norm(self.doc(node.args[0])), ATOM

    def norm(self, text: str) -> str:
        return f"‖{text}‖"

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
        return self.transposed_atom(self.index(self.wrap(base, ATOM), axes), t)

    def index(self, base: str, axes: list[str]) -> str:
        return f"{base}[{', '.join(axes)}]"

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
        # G added into zeros at the ids (repeated ids summed); a 1 at one id of a vector is onehot(o, V)
        value, ids = node.args
        if (node.shape.is_column and ids.shape.is_scalar and id(value) not in self.names
                and value.op == "number" and value.data == 1):
            return self.transposed_atom(self.call("onehot", [self.doc(ids), dim_text(node.shape.rows)]), t)
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

    # ------------------------------------------- the model's formulas as written
    def written(self, root: ast.Expr) -> str:
        """A formula of the model as it is written (its syntax tree, as
        symgrad.lowering.read_as reads it): the operations, numbers and
        brackets the model has, in this printer's notation (σ, ᵀ, ‖x‖², ∘),
        with no rewriting (log(1 + exp(z)) stays so) and no bracket the
        model does not have, save one its reading needs. Depth-safe: the
        nodes are printed operands first, from an explicit stack."""
        printed: dict[int, tuple[str, int]] = {}
        stack: list[tuple[ast.Expr, bool]] = [(root, False)]
        while stack:
            expr, ready = stack.pop()
            kids = ast.children(expr)
            if not ready:
                stack.append((expr, True))
                stack.extend((kid, False) for kid in kids)
                continue
            printed[id(expr)] = self._written_one(expr, [printed.pop(id(kid)) for kid in kids])
        return printed[id(root)][0]

    def _written_one(self, expr: ast.Expr, kids: list[tuple[str, int]]) -> tuple[str, int]:
        """One node of a syntax tree, its operands printed: (text, strength),
        the strengths being the language's levels (docs/language.md)."""
        kind = type(expr)

        def wrap(kid: tuple[str, int], level: int) -> str:
            return kid[0] if kid[1] >= level else self.group(kid[0])

        if kind is ast.Number:
            return self.written_number(expr.text), ATOM
        if kind is ast.Name:
            return self.symbol(expr.id), ATOM
        if kind is ast.Group:
            return self.group(kids[0][0]), ATOM
        if kind is ast.Norm:
            return self.norm(kids[0][0]), ATOM
        if kind is ast.Whole:
            return ":", ATOM
        if kind is ast.Range:
            return f"{kids[0][0]}:{kids[1][0]}", ATOM
        if kind is ast.Index:
            return self.index(wrap(kids[0], ATOM), [kid[0] for kid in kids[1:]]), ATOM
        if kind is ast.Block:
            texts, rows = iter(kid[0] for kid in kids), []
            for row in expr.rows:
                rows.append([next(texts) for _ in row])
            return self.stack(rows), ATOM
        if kind is ast.Call:
            name = expr.func.id
            builtin = BUILTINS.get(name)
            if builtin is not None and builtin.op in BUILTINS:  # an alias (σ) as the name it stands for
                name = builtin.op
            return self.call(name, [kid[0] for kid in kids]), ATOM
        if kind is ast.Negate:
            operand = wrap(kids[0], UNARY)
            return f"-{self.group(operand) if operand.startswith('-') else operand}", UNARY
        if kind is ast.Transpose:
            return self.postfix(wrap(kids[0], POSTFIX), self.transpose_mark), POSTFIX
        left, right = kids
        if expr.op in ("add", "sub"):
            return f"{wrap(left, SUM)}{' + ' if expr.op == 'add' else self.minus}{wrap(right, PRODUCT)}", SUM
        if expr.op in ("power", "elementwise_power"):  # A^2 and A .^ 2 alike, as the derivatives write them
            base = wrap(left, ATOM)
            exponent = expr.right
            if type(exponent) is ast.Negate:
                exponent = exponent.operand
            if type(exponent) is ast.Number and float(exponent.value).is_integer():
                sign = -1 if exponent is not expr.right else 1
                return self.postfix(base, self.power_mark(sign * int(exponent.value))), POSTFIX
            return self.power(base, wrap(right, ATOM)), POSTFIX
        if expr.op == "divide":
            tight = type(expr.left) in (ast.Name, ast.Number) and type(expr.right) in (ast.Name, ast.Number)
            return self.written_quotient(wrap(left, PRODUCT), wrap(right, UNARY), tight)
        # A factor of a product never starts with a minus (`W -x` is a difference).
        operator = {"hadamard": self.hadamard, "star": self.times, "at": self.matrix_times}.get(expr.op, " ")
        return f"{wrap(left, PRODUCT)}{operator}{wrap(right, POSTFIX)}", PRODUCT

    times = " * "
    matrix_times = " @ "

    def written_number(self, text: str) -> str:
        return text

    def written_quotient(self, a: str, b: str, tight: bool) -> tuple[str, int]:
        """a/b as the model writes it: 1/N close, (x + y) / 2 spaced."""
        return (f"{a}/{b}" if tight else f"{a} / {b}"), PRODUCT

    # --------------------------------------------------- derive's pieces
    def derivative(self, target: str, of: str) -> str:
        """∂target/∂of, of two labels already written by the printer."""
        return f"{self.partial}{target}/{self.partial}{of}"

    def signal(self, subscript: str) -> str:
        """The name of an error signal: δ, δ_1, δ_z."""
        return f"{self.delta}_{subscript}" if subscript else self.delta

    def subscript(self, text: str, subscript: str) -> str:
        """text with a subscript, both already written: ((∇²J) v)_w."""
        return f"{text}_{subscript}"

    def directional(self, target: str, direction: str) -> str:
        """The scalar whose gradient is a product with a direction: Jᵥ = Σ sum(∂J/∂X ∘ V_X)."""
        letter = {"v": "ᵥ", "u": "ᵤ"}.get(direction)
        return target + letter if letter else self.subscript(target, direction)

    def hessian(self, target: str) -> str:
        """∇²J, of a target already written."""
        return f"{self.postfix(self.nabla, self.power_mark(2))}{target}"

    def second_derivative(self, target: str, a: str, b: str) -> str:
        """∂²J/∂a∂b, a block of the Hessian (∂²J/∂a² where a is b), of labels already written."""
        below = (self.partial + self.postfix(a, self.power_mark(2)) if a == b
                 else f"{self.partial}{a}{self.partial_gap}{self.partial}{b}")
        return self.ratio(f"{self.postfix(self.partial, self.power_mark(2))}{target}", below)

    partial_gap = ""  # between ∂a and ∂b

    def ratio(self, top: str, bottom: str) -> str:
        """A quotient of two texts already written, as a derivative is: top/bottom."""
        return f"{top}/{bottom}"

    def prose(self, text: str) -> str:
        """Words among formulas."""
        return text

    def shape(self, shape: Shape) -> str:
        """A factor's shape as the lecture writes it: [n×m]."""
        return shape.brackets

    def _structural(self, node, t):
        """A reduction or a per-column function: transposing it transposes the call."""
        text = self.call(node.op, [self.doc(a) for a in node.args])
        return self.transposed_atom(text, t)


for _op in ("log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh", "sigmoid", "relu",
            "softplus", "gelu", "hardtanh", "erf", "leaky_relu", "elu", "max", "min"):
    setattr(Printer, f"_print_{_op}", lambda self, node, t, _name=_op: self.elementwise_call(_name, node, t))
for _op in ("sum", "mean", "tr", "det", "logdet", "norm1", "rowsum", "colsum", "softmax",
            "log_softmax", "logsumexp", "diag_vector", "vec", "unvec"):
    setattr(Printer, f"_print_{_op}", Printer._structural)
# diag(v) is symmetric: its transpose is written as itself.
Printer._print_diag_matrix = lambda self, node, t: Printer._structural(self, node, False)


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
    partial_gap = " "
    function_names = {}

    def power_mark(self, k: int) -> str:
        return f"^{k}"

    def hessian(self, target: str) -> str:
        return f"nabla^2 {target}"

    def directional(self, target: str, direction: str) -> str:
        return self.subscript(target, direction)

    def ratio(self, top: str, bottom: str) -> str:
        return f"{top}/({bottom})" if " " in bottom else f"{top}/{bottom}"

    def inverse_transpose_mark(self) -> str:
        return "^-T"

    def norm(self, text: str) -> str:
        return f"||{text}||"

    def ones(self) -> str:
        return "ones"

    def symbol(self, name: str) -> str:
        return in_ascii(name)  # λ as lambda, never \u03bb

    def function_symbol(self, name: str) -> str:
        return self.symbol(name.replace("∂", "d"))

    def shape(self, shape: Shape) -> str:
        return in_ascii(shape.brackets.replace("×", "x"))


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
    aside = " \\qquad "
    nabla = "\\nabla"
    partial_gap = " \\, "
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
        """A function's name upright, as written (\\operatorname{log\\_softmax});
        one with a Greek letter or a ∂ in it as letters (\\partial \\psi/\\partial a):
        KaTeX has no upright Greek."""
        if name.isascii():
            return f"\\operatorname{{{name.replace('_', chr(92) + '_')}}}"
        return latex_runs(name)

    def symbol(self, name: str) -> str:
        """A name as the lecture sets it: W1 and W_1 as W_{1}, N_all as
        N_{\\mathrm{all}}, λ as \\lambda, a name of several letters upright
        (\\mathrm{loss}); never a raw `_` or a character pdflatex cannot read."""
        value_of = re.fullmatch(r"(.+?)\((.*)\)", name)
        if value_of:  # a derivative's parameter that stands for the function's value: f(t)
            return self.call(value_of[1], [self.symbol(a.strip()) for a in value_of[2].split(",")])
        found = SUBSCRIPTED.fullmatch(name)
        if found is None:
            return self.letters(name)
        base, digits, words = found.groups()
        subscript = digits or ",".join(self.letters(word) for word in words.split("_"))
        return f"{self.letters(base)}_{{{subscript}}}"

    @staticmethod
    def letters(text: str) -> str:
        """A name without a subscript: one letter (x, \\lambda) or a number
        as it is, more letters as latex_runs writes them (\\mathrm{loss})."""
        if len(text) == 1:
            return latex_char(text)
        return text if text.isdigit() else latex_runs(text)

    def written_number(self, text: str) -> str:
        """1e-3 as 10^{-3}, 2.5e4 as 2.5 \\cdot 10^{4}."""
        mantissa, _, exponent = text.lower().partition("e")
        if not exponent:
            return text
        power = f"10^{{{int(exponent)}}}"
        return power if float(mantissa) == 1 else f"{mantissa} \\cdot {power}"

    def written_quotient(self, a: str, b: str, tight: bool) -> tuple[str, int]:
        return f"\\frac{{{a}}}{{{b}}}", ATOM

    times = " \\cdot "
    matrix_times = " "

    def power(self, base: str, exponent: str) -> str:
        return f"{{{base}}}^{{{exponent}}}"

    def derivative(self, target: str, of: str) -> str:
        return f"\\frac{{{self.partial}{target}}}{{{self.partial}{of}}}"

    def signal(self, subscript: str) -> str:
        return f"{self.delta}_{{{self.symbol(subscript)}}}" if subscript else self.delta

    def subscript(self, text: str, subscript: str) -> str:
        return f"{{{text}}}_{{{subscript}}}"

    def directional(self, target: str, direction: str) -> str:
        return self.subscript(target, direction)

    def ratio(self, top: str, bottom: str) -> str:
        return f"\\frac{{{top}}}{{{bottom}}}"

    def prose(self, text: str) -> str:
        return f"\\text{{{latex_text(text)}}}"

    def shape(self, shape: Shape) -> str:
        dims = re.sub(r"[^\W\d]\w*", lambda name: self.symbol(name[0]), shape.brackets)
        return dims.replace("×", " \\times ")

    def _print_div(self, node, t):
        a, b = node.args
        return f"\\frac{{{self.doc(a, t)}}}{{{self.doc(b, t)}}}", ATOM

    def norm(self, text: str) -> str:
        return f"\\left\\lVert {text} \\right\\rVert"

    def indicator(self, condition: str) -> str:
        return f"\\left[{condition}\\right]"

    def ones(self) -> str:
        return "\\mathbf{1}"

    def stack(self, rows: list[list[str]]) -> str:
        body = " \\\\ ".join(" & ".join(row) for row in rows)
        return f"\\begin{{bmatrix}} {body} \\end{{bmatrix}}"


def latex_char(char: str) -> str:
    """One character of a name in LaTeX: a Greek letter as its macro, a
    letter with an accent as the plain letter (pdflatex reads no Unicode in
    formulas), anything else not ASCII by its code point."""
    if char.isascii():
        return char
    if char in GREEK_LATEX:
        return GREEK_LATEX[char]
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return plain or f"U{ord(char):04X}"


def latex_runs(text: str) -> str:
    """A name of several characters: each Greek letter (and ∂) as its macro,
    in braces, each run of other letters upright (\\mathrm{loss}; KaTeX has
    no upright Greek), a `_` in it escaped."""
    pieces = []
    for is_macro, run in groupby(text, key=lambda char: char in GREEK_LATEX or char == "∂"):
        run = "".join(run)
        if is_macro:
            pieces += ["{\\partial}" if char == "∂" else f"{{{GREEK_LATEX[char]}}}" for char in run]
        else:
            written = "".join("\\_" if char == "_" else latex_char(char) for char in run)
            pieces.append(f"\\mathrm{{{written}}}" if sum(char.isalpha() for char in run) > 1 else written)
    return "".join(pieces)


TEXT_SPECIALS = {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "<": r"\textless{}", ">": r"\textgreater{}", **{c: "\\" + c for c in "#$%&_{}"}}


def latex_text(text: str) -> str:
    """Words and file names in LaTeX's text mode: its special characters
    escaped, and ASCII only (λ as lambda) for pdflatex."""
    return "".join(TEXT_SPECIALS.get(char, char) for char in in_ascii(text))


PRINTERS = {"unicode": Printer, "ascii": AsciiPrinter, "latex": LatexPrinter}
