"""The `symgrad` command line.

Exit status: 0 success; 1 a derivative check failed (a gradient, an HVP, a Hessian or a Jacobian); 2 bad input (a model
error, a missing file, a wrong option); 3 an internal error of symgrad.
"""

from __future__ import annotations

import argparse
import os
import sys

from .version import __version__
from .source import ModelError, read_source

BAD_INPUT = 2
INTERNAL_ERROR = 3


def program_of(path: str):
    from .lowering import analyze
    return analyze(read_source(path))


def cmd_shapes(args) -> int:
    from .naming import keyword_spelling, python_names
    program = program_of(args.model)
    rows: list[tuple[str, str, str]] = []
    if program.dims:
        rows.append(("dim", ", ".join(program.dims), ""))
    for variable in program.variables.values():
        value = f" = {variable.value:g}" if variable.value is not None else ""
        rows.append((variable.kind, variable.name, f"{variable.type_text}{value}"))
    # --explicit: each formula as it is read, every operation in brackets.
    formulas = explicit_formulas(program.source) if args.explicit else {}
    for function in program.functions.values():
        signature = " × ".join("R" for _ in function.params)
        rows.append(("fn", f"{function.name}({', '.join(function.params)})",
                      f"{signature} → R" + formulas.get(function.name, "")))
    for name, node in program.definitions.items():
        rows.append(("def", name, str(node.shape) + formulas.get(name, "")))
    width = max(len(name) for _, name, _ in rows)
    for kind, name, shape in rows:  # names padded only where a shape follows: no line ends in spaces
        print(f"{kind:<6}" + (f"{name:<{width}} : {shape}" if shape else name))
    for request in program.grads:
        print(f"grad  {request.target} wrt {', '.join(v.name for v in request.wrt)}")
    for request in program.hessians:
        print(f"hessian {request.target} wrt {', '.join(v.name for v in request.wrt)}")
    for request in program.jacobians:
        print(f"jacobian {request.target} wrt {request.variable.name}")
    fields, keywords = python_names(program.variables), python_names(program.variables, keyword_spelling)
    renamed = [name for name in program.variables if name != fields[name]]
    if renamed:
        print("python names:")
        for name in renamed:
            argument = f" (keyword argument: {keywords[name]})" if keywords[name] != fields[name] else ""
            print(f"  {name} -> {fields[name]}{argument}")
    return 0


def explicit_formulas(source) -> dict[str, str]:
    """` = FORMULA` for each definition and function, fully bracketed."""
    from .lowering import read_as
    from .syntax import explicit
    return {name: " = " + explicit(formula, source.snippet) for name, formula in read_as(source).items()}


def cmd_derive(args) -> int:
    from .explain import Explanation
    from .lowering import analyze, undefined_function_warnings
    program = analyze(read_source(args.model), allow_undefined_functions=True)
    for warning in undefined_function_warnings(program):
        print(warning.render(program.source), file=sys.stderr)
    if args.html is not None:
        return write_page(program.source, args.html, args.steps)
    style = "latex" if args.latex else "ascii" if args.ascii else "unicode"
    sys.stdout.write(Explanation(program).text(style, steps=args.steps))
    return 0


def write_page(source, output: str, steps: bool) -> int:
    """derive --html: the page of symgrad.page, to a file or standard output (-)."""
    from .page import page
    text = page(source, steps)
    if output == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(output, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        print(f"symgrad: error: cannot write '{output}': {error.strerror}", file=sys.stderr)
        return BAD_INPUT
    return 0


def cmd_compile(args) -> int:
    from .compiler import UnknownTarget, generate_module
    try:
        code = generate_module(read_source(args.model), args.target, args.with_check)
    except UnknownTarget as error:
        print(f"symgrad: error: --target: {error}", file=sys.stderr)
        return BAD_INPUT
    if args.output in (None, "-"):
        sys.stdout.write(code)
    else:
        with open(args.output, "w", encoding="utf-8") as stream:
            stream.write(code)
    return 0


def cmd_check(args) -> int:
    from .cli_check import run
    return run(args)


def cmd_graph(args) -> int:
    from .checking import CheckInputError
    from .cli_check import parse_dims
    from .graphing import GraphError, format_of, graph
    try:
        dims = parse_dims(args.dims or "")
    except ValueError as error:
        print(f"symgrad: error: --dims: {error}", file=sys.stderr)
        return BAD_INPUT
    to_stdout = args.output in (None, "-")
    try:
        form = args.format or ("dot" if to_stdout else format_of(args.output))
        data = graph(read_source(args.model), args.at, args.inputs, dims, args.grad, args.group).render(form)
    except (GraphError, CheckInputError) as error:
        print(f"symgrad: error: {error}", file=sys.stderr)
        return BAD_INPUT
    if to_stdout:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    else:
        with open(args.output, "wb") as stream:
            stream.write(data)
    return 0


def cmd_cache(args) -> int:
    from . import cache
    try:
        sys.stdout.write(cache.clear() if args.clear else cache.info())
    except OSError as error:  # a file of the cache that cannot be removed or read
        print(f"symgrad: error: cannot {'clear' if args.clear else 'read'} the cache: "
              f"{error.filename}: {error.strerror}", file=sys.stderr)
        return BAD_INPUT
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symgrad",
        description="Symbolic differentiation compiler: gradients of matrix expressions, compiled to NumPy.")
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name, help_, run):
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument("model", metavar="MODEL.sg", help="the model file")
        sub.set_defaults(run=run)
        return sub

    compile_ = command("compile", "write a standalone NumPy module for the model", cmd_compile)
    compile_.add_argument("-o", "--output", metavar="OUT.py",
                          help="where to write the module (default: standard output)")
    compile_.add_argument("--target", default="numpy", metavar="NAME",
                          help="the arrays the module computes with (default: numpy; see docs/backends.md)")
    compile_.add_argument("--with-check", action="store_true",
                          help="the module also carries check_gradients(), its own gradient check (on NumPy arrays)")
    derive = command("derive", "print every gradient, Hessian and Jacobian in matrix notation, with its error "
                               "signals and shapes", cmd_derive)
    style = derive.add_mutually_exclusive_group()
    style.add_argument("--latex", action="store_true", help="print LaTeX")
    style.add_argument("--ascii", action="store_true", help="print ASCII only (no Unicode)")
    style.add_argument("--html", metavar="FILE",
                       help="write one self-contained web page instead (- for standard output): the shapes, "
                            "the derivation in MathML and the graph as SVG, which browsers show without scripts")
    derive.add_argument("--steps", action="store_true",
                        help="also print the chain of local Jacobians and the matrix form each takes, and how "
                             "each Hessian and Jacobian arises from a product with a direction")
    check = command("check", "compare every gradient, Hessian-vector product, Hessian and Jacobian with finite "
                             "differences and print a report", cmd_check)
    check.add_argument("--dims", metavar="n=8,m=20",
                       help="sizes of the dimensions (default 3, 4, 5, ... in declaration order)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    check.add_argument("--target", default="numpy", metavar="NAME",
                       help="whose module to check, run on NumPy arrays (default: numpy; see docs/backends.md)")
    check.add_argument("--inputs", metavar="FILE.npz",
                       help="arrays to check at, by argument name (the others are drawn at random)")
    check.add_argument("--max-entries", type=int, default=10_000, metavar="N",
                       help="compare at most N entries one by one, in all (default 10000; for a Hessian or "
                            "Jacobian, N columns a statement); every derivative is also compared along random "
                            "directions")
    check.add_argument("--directions", type=int, default=4, metavar="K",
                       help="random directions per gradient and per hvp (default 4)")
    check.add_argument("--rtol", type=float, default=1e-5,
                       help="relative tolerance (default 1e-5); see docs/checking.md")
    check.add_argument("--json", metavar="FILE",
                       help="also write the report as JSON (-: to standard output, alone; the table then "
                            "goes to standard error)")
    check.add_argument("--markdown", metavar="FILE",
                       help="also write the report as Markdown (-: to standard output, alone; the table "
                            "then goes to standard error)")
    shapes = command("shapes", "print every variable and definition with its shape", cmd_shapes)
    shapes.add_argument("--explicit", action="store_true",
                        help="also print each formula as it is read, with every operation in brackets")
    graph = command("graph", "draw the computational graph, with values and gradients on its wires (Graphviz)",
                    cmd_graph)
    graph.add_argument("-o", "--output", metavar="GRAPH.svg",
                       help="where to write it: .svg, .png, .pdf, or .dot for the DOT source, which needs no "
                            "Graphviz (default: the DOT source on standard output)")
    graph.add_argument("--format", choices=("svg", "png", "pdf", "dot"),
                       help="the output's format (default: by the output's suffix)")
    graph.add_argument("--at", type=int, metavar="SEED",
                       help="show each wire's value and gradient at random inputs drawn as `symgrad check` "
                            "draws them with this seed")
    graph.add_argument("--inputs", metavar="FILE.npz",
                       help="show each wire's value and gradient at these arrays, by argument name (the "
                            "others are drawn at random)")
    graph.add_argument("--dims", metavar="n=8,m=20",
                       help="sizes of the dimensions of the random inputs (default 3, 4, 5, ...)")
    graph.add_argument("--grad", metavar="TARGET",
                       help="which grad statement to draw, by its target (default: the first); a jacobian "
                            "statement's target: its forward graph, without gradients")
    graph.add_argument("--group", action=argparse.BooleanOptionalAction, default=None,
                       help="draw each definition in a box of its own (default: for models of more than "
                            "12 gates)")
    cache_help = "show or empty the cache of compiled modules, derivatives and parser tables"
    cache = commands.add_parser("cache", help=cache_help, description=cache_help + " (see docs/guarantees.md)")
    action = cache.add_mutually_exclusive_group()
    action.add_argument("--info", action="store_true",
                        help="print where the cache is, whether it is used, its entries and size (the default)")
    action.add_argument("--clear", action="store_true",
                        help="delete every file symgrad wrote there (the directory and other files stay)")
    cache.set_defaults(run=cmd_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return BAD_INPUT
    try:
        return args.run(args)
    except ModelError as error:
        print(error.render(), file=sys.stderr)
        return BAD_INPUT
    except BrokenPipeError:  # `symgrad ... | head` closed the pipe: nothing more to say
        sys.stderr.close()
        return 0
    except OSError as error:
        print(f"symgrad: error: cannot read '{error.filename}': {error.strerror}", file=sys.stderr)
        return BAD_INPUT
    except Exception as error:  # never a traceback for the user, but say it is ours
        if os.environ.get("SYMGRAD_DEBUG"):
            raise
        print(f"symgrad: internal error: {type(error).__name__}: {error}\n"
              "This is a bug in symgrad; run with SYMGRAD_DEBUG=1 for the traceback.", file=sys.stderr)
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
