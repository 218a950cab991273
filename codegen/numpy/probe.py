"""What a module compiled `--with-check` carries of its own model, beside the
checker (symgrad/check_runtime.py): `_CHECK_SPEC`, its arguments (name,
Python spelling, kind, dimensions and the domain random values are drawn
from), its grad statements, its kinks and its functions with a restricted
domain (in the values of its grad and jacobian statements), each with its
place in the model; and `_check_probe(...)`, at given arguments the argument
of every kink (relu, abs, sign, norm1, leaky_relu, elu: its argument; max,
min: a - b; hardtanh: z - 1 and z + 1) and of every function with a
restricted domain (the Op entries' `kink` and `domain`). The hessian and
jacobian statements the checker reads from the module's SIGNATURE."""

from __future__ import annotations

import re

from symgrad.binding import plan
from symgrad.ir import postorder
from symgrad.ops import OPS
from symgrad.shapes import dim_python, dim_symbols

from .. import literal_dict
from .printer import NumpyPrinter, number


def module_section(program, spelled: dict[str, str], functions: dict[str, str]) -> str:
    """`_CHECK_SPEC` and `_check_probe` for a program's generated module, as
    the module spells model names (`spelled`) and its functions (`functions`)."""
    return ProbeWriter(program, spelled, functions).section()


class ProbeWriter:
    """Writes `_check_probe`: the model's forward values, one line each, as
    far as the kinks and the restricted functions need them."""

    def __init__(self, program, spelled: dict[str, str], functions: dict[str, str]):
        self.program = program
        self.spelled = spelled
        self.printer = NumpyPrinter({d: spelled[d] for d in program.dims}, functions,
                                    [spelled[v.name] for v in program.arguments])
        self.names: dict[int, str] = {}
        self.lines: list[str] = []
        self.temporaries = 0
        self.kinks: list[tuple] = []     # (op, where, source line), (margin expressions)
        self.domains: list[tuple] = []   # (op, test, where, source line, depends), expression
        self.drawn: dict[str, set[str]] = {v.name: set() for v in program.arguments}

    # ------------------------------------------------------------ the walk
    def section(self) -> str:
        program = self.program  # a hessian's scalar has a grad statement; a jacobian's value may have none
        for node in postorder([request.node for request in program.grads + program.jacobians]):
            self.visit(node, {})
            if node.op == "apply" and node.data in self.program.functions:
                function = self.program.functions[node.data]
                bound = dict(zip(function.params, node.args))
                for inner in postorder([function.body]):
                    self.visit(inner, bound)
        return self.spec() + "\n\n\n" + self.probe()

    def visit(self, node, bound: dict):
        """Record node as a kink or a restricted function, with the code for
        its argument(s); `bound`: inside a function body, its arguments'
        values at the call."""
        op, args = node.op, node.args
        value = (lambda n: self.inline(n, bound)) if bound else self.value
        if OPS[op].kink:
            a = value(args[0])
            margins = ([f"{a} - {value(args[1])}"] if op in ("max", "min") else
                       [f"{a} - 1", f"{a} + 1"] if op == "hardtanh" else [a])
            self.kinks.append((self.site(op, node), margins))
        elif op == "pow" and not (args[1].op == "number" and float(args[1].data).is_integer()):
            # a fractional or non-constant exponent takes positive bases only
            self.restricted(node, "power", "positive", args[0], value(args[0]), bound)
        elif OPS[op].domain:
            self.restricted(node, op, OPS[op].domain, args[0], value(args[0]), bound)

    def restricted(self, node, op: str, test: str, argument, code: str, bound: dict):
        """Record a function with a restricted domain; a variable it takes
        directly (or transposed) is drawn inside the domain."""
        while argument.op == "transpose" or argument.op == "argument" and argument.data in bound:
            argument = argument.args[0] if argument.op == "transpose" else bound[argument.data]
        if argument.op == "variable" and argument.data in self.drawn:
            square = argument.shape.rows != 1 and test != "positive"
            self.drawn[argument.data].add("pd" if square else "positive")
        under = postorder([bound.get(n.data, n) if n.op == "argument" else n for n in postorder([argument])])
        used = {n.data for n in under if n.op == "variable"}
        depends = tuple(v.name for v in self.program.arguments if v.name in used)
        self.domains.append(((op, test, *self.site(op, node)[1:], depends), code))

    def site(self, op, node) -> tuple[str, str, str]:
        source = self.program.source
        where = f"{source.filename}:{node.span.line}:{node.span.column}" if node.span else source.filename
        line = source.line_text(node.span.line).split("#")[0].strip() if node.span else ""
        return (op, where, line)

    # ------------------------------------------------------------ the code
    def value(self, node) -> str:
        """The probe's name (or literal) for a value of the model, writing
        the lines that compute it and what it needs first."""
        for step in postorder([node], stop=self.names.keys()):
            if id(step) in self.names:
                continue
            if step.op == "variable":
                variable = self.program.variables[step.data]
                text = self.spelled[step.data] if variable.value is None else number(variable.value)
            elif step.op == "number":
                text = number(step.data)
            elif step.op == "dimension":
                text = self.printer.dim(step.data)
            else:
                own = step.name in self.program.definitions and self.program.definitions[step.name] is step
                self.temporaries += 0 if own else 1
                text = self.spelled[step.name] if own else f"_p{self.temporaries}"
                operands = [self.names[id(a)] for a in step.args]
                self.lines.append(f"    {text} = {self.printer.expression(step, operands)}")
            self.names[id(step)] = text
        return self.names[id(node)]

    def inline(self, node, bound: dict) -> str:
        """One expression for a value inside a function body, its arguments
        bound to the model's values at the call."""
        if node.op == "argument":
            return self.value(bound[node.data])
        if node.op == "number":
            return number(node.data)
        if node.op == "variable":
            return number(self.program.variables[node.data].value)
        if node.op == "dimension":
            return self.printer.dim(node.data)
        operands = [self.inline(a, bound) for a in node.args]
        operands = [o if o.isidentifier() or o.replace(".", "").isdigit() else f"({o})" for o in operands]
        return self.printer.expression(node, operands)

    def spec(self) -> str:
        program = self.program
        count = len(program.grads)
        spec = {
            "model": program.source.filename,
            "dims": list(program.dims),
            "arguments": [(v.name, self.spelled[v.name], v.kind, v.shape.rows, v.shape.cols,
                           ("ids", v.ids) if v.ids is not None else " ".join(sorted(self.drawn[v.name])) or "real")
                          for v in program.arguments],
            "requirements": [(r.dim, r.minimum, r.message) for r in program.requirements],
            "grads": [(r.target, "" if count == 1 else f"_{self.spelled.get(r.target, r.target)}",
                       tuple(v.name for v in r.wrt)) for r in program.grads],
            "kinks": [site for site, margins in self.kinks for _ in margins],
            "domains": [site for site, _ in self.domains],
        }
        return literal_dict("_CHECK_SPEC", spec, (
            "# What check_gradients needs: the arguments (name, Python name, kind, rows, columns,\n"
            "# the domain random values are drawn from), the grad statements (target, suffix of\n"
            "# their functions, wrt), the kinks and the functions with a restricted domain.\n"))

    def probe(self) -> str:
        arguments = [self.spelled[v.name] for v in self.program.arguments]
        unpacked = ", ".join(arguments) + ("," if len(arguments) == 1 else "")
        packed = unpacked if len(arguments) == 1 else ", ".join(arguments)
        head = [f"def _check_probe({', '.join(arguments)}):",
                '    """The arguments of the kinks and of the restricted functions in',
                '    _CHECK_SPEC, in its order, at these arguments."""',
                f"    {unpacked} = _check_arrays(({packed}), _CHECK_SPEC)"]
        # What the probe computes: its lines, and the kinks' and domains' arguments.
        code = "\n".join(self.lines + [m for _, margins in self.kinks for m in margins]
                         + [value for _, value in self.domains])
        # The dimensions the code reads, and those they are solved from, as the module binds them.
        steps = [step for _, steps in plan(self.program.arguments) for step in steps if step.symbol]
        needed = {dim for dim in self.program.dims if re.search(rf"\b{self.spelled[dim]}\b", code)}
        for step in reversed(steps):
            if step.symbol in needed:
                needed.update(dim_symbols(step.slope) + dim_symbols(step.rest))
        for step in steps:
            if step.symbol not in needed:
                continue
            size = f"{self.spelled[step.variable.name]}.shape[{step.axis}]"
            rest = f" - {dim_python(step.rest, self.spelled)}" * (step.rest != 0)
            slope = f" // {dim_python(step.slope, self.spelled)}" * (step.slope != 1)
            head.append(f"    {self.spelled[step.symbol]} = " + (f"({size}{rest}){slope}" if rest or slope else size))
        if re.search(r"\b_dtype\b", code):
            head.append("    _dtype = _np.dtype(_np.float64)")
        # A place in a comment is escaped, so that no file name can end the comment.
        kinks = "".join(f"        {margin},  # {op} at {repr(where)[1:-1]}\n"
                        for (op, where, _), margins in self.kinks for margin in margins)
        domains = "".join(f"        {value},  # {site[0]} at {repr(site[2])[1:-1]}\n" for site, value in self.domains)
        return ("\n".join(head + self.lines) +
                f"\n    kinks = [\n{kinks}    ]\n    domains = [\n{domains}    ]\n    return kinks, domains")

