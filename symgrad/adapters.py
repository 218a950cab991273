"""A compiled model inside PyTorch and JAX code, with symgrad's gradients.

    loss = adapters.torch_function(model)          # loss(W, b, u, x) is a tensor;
    loss(W, b, u, x).backward()                    # W.grad, ... are symgrad's
    net = adapters.TorchModel(model, dims={"n": 8, "m": 20})   # an nn.Module
    net(x=x).backward()                            # the params are nn.Parameters
    f = adapters.jax_function(model)               # jax.grad(f), jax.jit(...)

`model` is what `symgrad.load`, `symgrad.compile_source` or an import of a
`symgrad compile` output gives; `statement=NAME` picks a grad statement of a
file with several (default: the first).

The math: a framework asks a function s(θ₁, ..., θₖ) of its scalar output's
upstream gradient ḡ = ∂L/∂s for the vector-Jacobian products ∂L/∂θᵢ = ḡ ∂s/∂θᵢ.
PyTorch's backward gets them from the module's backward(cache, ḡ); JAX's
from value_and_grad's gradients, computed with the value, times ḡ (the
residuals of a custom_vjp must be arrays, and a cache holds shapes and
dtypes too). An argument that is not in the statement's `wrt` has no
gradient here: differentiating with respect to it is a ValueError (a
tensor that requires grad; a JAX input that is being differentiated), never
a silent zero.

A module of the NumPy target is called with NumPy arrays, converted at the
boundary: tensors by detach().cpu().numpy(), gradients back to each
tensor's dtype and device; JAX arrays through jax.pure_callback, whose
result shapes and dtypes are declared, so that it works under jax.jit. A
module whose `TARGET` is "array-api" is called with the framework's own
arrays, with no conversion and no callback (under JAX the custom_vjp traces
through it).

torch and jax are imported on first use, never by `import symgrad`.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

import numpy as np

from .optim import xavier
from .shapes import Dim, DimExpr, dim_symbols, dim_value, solve_dim

__all__ = ["torch_function", "TorchModel", "jax_function"]


def _require(package: str):
    """The framework's module, or an ImportError that names the extra."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ImportError(f"symgrad.adapters needs {package}: pip install \"symgrad[{package}]\"") from None


@dataclass(frozen=True)
class _Argument:
    """One argument of the entry points: its keyword as the module spells it,
    its name, kind (param, input, const) and dimensions in the model."""
    keyword: str
    name: str
    kind: str
    rows: Dim
    cols: Dim


class _Statement:
    """One grad statement of a compiled module, as the adapters call it: its
    entry points, its arguments in declaration order, and for each of its
    gradients (in `wrt` order) the index of the argument it belongs to.

    What it relies on in the module: the entry points of the interface
    (forward, backward, value_and_grad, evaluate, suffixed _NAME where the
    file has several grad statements), its public `SIGNATURE` (arguments:
    name, keyword, kind, rows, columns; statements: target, suffix, wrt,
    gradient fields) and `TARGET`."""

    def __init__(self, module, name: str | None = None):
        spec = getattr(module, "SIGNATURE", None)
        if spec is None:
            raise TypeError(f"{getattr(module, '__name__', module)!r} is no module compiled by symgrad "
                            "(symgrad.load, symgrad.compile_source or a `symgrad compile` output)")
        statements = {target: (suffix, wrt) for target, suffix, wrt, _ in spec["statements"]}
        if not statements:
            raise ValueError(f"{spec['model']} has no grad statement")
        self.target = next(iter(statements)) if name is None else name
        if self.target not in statements:
            raise ValueError(f"{spec['model']} has no `grad {self.target}` statement; "
                             f"its grad statements are of {', '.join(statements)}")
        suffix, wrt = statements[self.target]
        self.forward, self.backward, self.value_and_grad, self.evaluate = (
            getattr(module, entry + suffix) for entry in ("forward", "backward", "value_and_grad", "evaluate"))
        self.signature = inspect.signature(self.forward)
        # A dimension expression (`5 d`) comes as its terms, ((("d",), 5),).
        self.arguments = [_Argument(keyword, name, kind, *(DimExpr(d) if isinstance(d, tuple) else d
                                                           for d in (rows, cols)))
                          for name, keyword, kind, rows, cols in spec["arguments"]]
        names = [argument.name for argument in self.arguments]
        self.wrt = [names.index(name) for name in wrt]
        self.array_api = getattr(module, "TARGET", "numpy") == "array-api"

    def bind(self, args, kwargs) -> list:
        """The values of a call, in declaration order (TypeError as Python
        gives it for a missing or unknown argument)."""
        return list(self.signature.bind(*args, **kwargs).arguments.values())

    def value_and_grads(self, *values):
        """value_and_grad with the gradients as a plain tuple (a pytree JAX
        can match with the declared results)."""
        value, grads = self.value_and_grad(*values)
        return value, tuple(grads)

    def no_gradient(self, index: int) -> ValueError:
        """The error of differentiating with respect to an argument not in wrt."""
        keyword = self.arguments[index].keyword
        wrt = ", ".join(self.arguments[i].name for i in self.wrt)
        return ValueError(f"{keyword} is differentiated, but `grad {self.target} wrt {wrt}` gives it no "
                          f"gradient: add {self.arguments[index].name} to wrt in the model, or pass it "
                          "without asking for its gradient (detached, or not among jax.grad's argnums)")


# ------------------------------------------------------------------ PyTorch

def torch_function(module, statement: str | None = None):
    """The statement's scalar as a function of tensors (and of arrays or
    numbers for the arguments without a gradient), called like forward:
    loss(*args, **kwargs) -> a 0-d tensor on the first tensor's device.
    `loss.backward()` runs the module's backward, with the upstream gradient."""
    torch = _require("torch")
    entry = _Statement(module, statement)
    function = _torch_autograd_function(torch)

    def loss(*args, **kwargs):
        values = entry.bind(args, kwargs)
        if not torch.is_grad_enabled() or not any(isinstance(v, torch.Tensor) and v.requires_grad for v in values):
            return _torch_value(torch, entry.evaluate(*_torch_in(torch, entry, values)), values)
        for index, value in enumerate(values):
            if isinstance(value, torch.Tensor) and value.requires_grad and index not in entry.wrt:
                raise entry.no_gradient(index)
        return function.apply(entry, *values)

    loss.__doc__ = f"`{entry.target}` of the model; arguments: {', '.join(entry.signature.parameters)}."
    return loss


def _torch_autograd_function(torch):
    """The torch.autograd.Function that runs a statement's forward and backward."""

    class SymgradFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, entry, *values):
            value, ctx.cache = entry.forward(*_torch_in(torch, entry, values))
            ctx.entry, ctx.like = entry, [(v.dtype, v.device) if isinstance(v, torch.Tensor) else None
                                          for v in values]
            return _torch_value(torch, value, values)

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, upstream):
            entry = ctx.entry
            grads = entry.backward(ctx.cache, upstream if entry.array_api else upstream.item())
            out = [None] * len(ctx.like)
            for grad, index in zip(grads, entry.wrt):
                if ctx.like[index] is not None:
                    dtype, device = ctx.like[index]
                    out[index] = torch.as_tensor(grad if entry.array_api else np.asarray(grad)).to(device, dtype)
            return (None, *out)

    return SymgradFunction


def _torch_in(torch, entry: _Statement, values) -> list:
    """The values as the module takes them: tensors as NumPy arrays, unless
    the module is of the array-API target."""
    if entry.array_api:
        return [v.detach() if isinstance(v, torch.Tensor) else v for v in values]
    return [v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for v in values]


def _torch_value(torch, value, values):
    """The module's scalar as a 0-d tensor on the device of the first tensor
    argument (the CPU if none), in the computation's dtype."""
    device = next((v.device for v in values if isinstance(v, torch.Tensor)), None)
    return torch.as_tensor(value if isinstance(value, torch.Tensor) else np.asarray(value), device=device)


def _torch_model_class(torch):
    """TorchModel, defined on first use so that importing this module does
    not import torch."""

    class TorchModel(torch.nn.Module):
        """A compiled model as an nn.Module: its `param` declarations are
        nn.Parameters, named by their keywords, in declaration order, and
        forward(**inputs_and_consts) returns the statement's scalar.

            net = TorchModel(model, dims={"H": 32, "D": 64, "C": 10}, seed=0)
            optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
            loss = net(X=X, Y=Y, lambda_=1e-4); loss.backward(); optimizer.step()

        A param takes the value given for it by keyword (an array, tensor or
        number); one not given is drawn: a matrix R^(n_out×n_in) by Xavier's
        rule (symgrad.optim.xavier, Var = 2 / (n_in + n_out)), a vector or a
        scalar is 0 (give a value to a vector that must not start at 0, such
        as one multiplied by another param). Sizes come from `dims` and the
        shapes of the given values. Every param has `dtype` (torch's default
        dtype unless given) and lives on `device`; a param that the
        statement's wrt leaves out is frozen (requires_grad=False)."""

        def __init__(self, module, /, statement=None, *, dims=None, seed=None, dtype=None, device=None,
                     **initial_params):
            super().__init__()
            entry = _Statement(module, statement)
            self._symgrad_loss = torch_function(module, entry.target)
            params = [a for a in entry.arguments if a.kind == "param"]
            unknown = sorted(set(initial_params) - {a.keyword for a in params})
            if unknown:
                raise TypeError(f"TorchModel: {', '.join(unknown)} is no param of the model "
                                f"(its params: {', '.join(a.keyword for a in params)})")
            sizes = dict(dims or {})
            for argument in params:
                if argument.keyword in initial_params:
                    _bind_sizes(argument, np.shape(initial_params[argument.keyword]), sizes)
            rng = np.random.default_rng(seed)
            trained = {entry.arguments[i].keyword for i in entry.wrt}
            dtype = dtype or torch.get_default_dtype()
            for argument in params:
                given = initial_params.get(argument.keyword)
                value = _initial_value(argument, sizes, rng) if given is None else given
                if isinstance(value, torch.Tensor):
                    value = value.detach().clone()
                if hasattr(self, argument.keyword):
                    raise ValueError(f"TorchModel: the param {argument.name} has the name of an attribute of "
                                     "torch.nn.Module; rename it in the model, or use torch_function")
                tensor = torch.as_tensor(value, dtype=dtype, device=device)
                self.register_parameter(argument.keyword, torch.nn.Parameter(
                    tensor, requires_grad=argument.keyword in trained))
            self._symgrad_params = [a.keyword for a in params]

        def forward(self, **inputs_and_consts):
            """The statement's scalar at the params and the given inputs and consts."""
            params = {keyword: getattr(self, keyword) for keyword in self._symgrad_params}
            return self._symgrad_loss(**params, **inputs_and_consts)

    return TorchModel


def _bind_sizes(argument: _Argument, shape: tuple, sizes: dict) -> None:
    """Learn the sizes of an argument's symbolic dimensions from the shape of
    its value (a vector may come as a 1-D array), solving a dimension
    expression for its one unknown (`5 d` of 250 columns: d = 50)."""
    if len(shape) == 2:
        dims = (argument.rows, argument.cols)
    else:
        dims = ((argument.cols,) if argument.rows == 1 else (argument.rows,))[:len(shape)]
    for dim, size in zip(dims, shape):
        solved = solve_dim(dim, size, sizes)
        if solved is not None and isinstance(solved[1], int) and solved[1] > 0:  # else the module says what is wrong
            sizes.setdefault(*solved)


def _initial_value(argument: _Argument, sizes: dict, rng) -> np.ndarray:
    """A drawn param: Xavier for a declared matrix, zeros for a vector (a 1-D
    array) or a scalar."""
    def size(dim):
        unknown = [symbol for symbol in dim_symbols(dim) if symbol not in sizes]
        if unknown:
            raise ValueError(f"TorchModel: the size of {unknown[0]} is unknown, so {argument.name} cannot be "
                             f"drawn; pass dims={{{unknown[0]!r}: ...}} or an initial value of {argument.keyword}")
        return dim_value(dim, sizes)

    rows, cols = size(argument.rows), size(argument.cols)
    if argument.rows != 1 and argument.cols != 1:
        return xavier((rows, cols), rng)
    return np.zeros(() if argument.rows == argument.cols == 1 else (rows * cols,))


def __getattr__(name: str):
    """TorchModel, a subclass of torch.nn.Module, is made when first asked for."""
    if name == "TorchModel":
        globals()["TorchModel"] = model_class = _torch_model_class(_require("torch"))
        return model_class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------- JAX

def jax_function(module, statement: str | None = None):
    """The statement's scalar as a JAX function, called like forward:
    f(*args, **kwargs) -> a 0-d array. It has a custom_vjp whose rule is
    symgrad's gradients, so jax.grad, jax.value_and_grad and jax.jit of f
    use them."""
    jax = _require("jax")
    entry = _Statement(module, statement)
    run = _JaxRun(entry.evaluate, entry.value_and_grads) if entry.array_api else _jax_callback(jax, entry)

    @jax.custom_vjp
    def value(*values):
        return run.evaluate(*values)

    def value_and_residuals(*primals):
        for index, primal in enumerate(primals):
            if primal.perturbed and index not in entry.wrt:
                raise entry.no_gradient(index)
        return run.value_and_grads(*(primal.value for primal in primals))

    def gradients(grads, upstream):
        """ḡ ∂s/∂θᵢ for each argument in wrt, in its dtype; None (zero) for the others."""
        out = [None] * len(entry.arguments)
        if not isinstance(upstream, jax.custom_derivatives.SymbolicZero):
            for grad, index in zip(grads, entry.wrt):
                out[index] = (grad * upstream).astype(grad.dtype)
        return tuple(out)

    value.defvjp(value_and_residuals, gradients, symbolic_zeros=True)

    def f(*args, **kwargs):
        return value(*map(jax.numpy.asarray, entry.bind(args, kwargs)))

    f.__doc__ = f"`{entry.target}` of the model; arguments: {', '.join(entry.signature.parameters)}."
    return f


@dataclass(frozen=True)
class _JaxRun:
    """How a JAX function runs a statement, on the values in declaration
    order: evaluate(*values) -> value, value_and_grads(*values) -> (value,
    the gradients in wrt order)."""
    evaluate: object
    value_and_grads: object


def _jax_callback(jax, entry: _Statement) -> _JaxRun:
    """A NumPy module, called through jax.pure_callback with NumPy arrays: the
    value in the arguments' promoted floating dtype (JAX's rules), each
    gradient in its argument's shape and dtype. A weakly typed value (a
    Python number given to f or to a jitted function) reaches the module as
    a Python number, which, as in NumPy, does not widen the computation."""
    jnp = jax.numpy

    def value_shape(values):
        floats = [v for v in values if jnp.issubdtype(v.dtype, jnp.floating)]
        return jax.ShapeDtypeStruct((), jnp.result_type(*floats) if floats else jnp.result_type(float))

    def grad_shapes(values):
        return tuple(jax.ShapeDtypeStruct(values[i].shape, values[i].dtype) for i in entry.wrt)

    def call(function, result, values):
        weak = [v.weak_type for v in values]

        def in_numpy(*arrays):
            arrays = [a.item() if w else np.asarray(a) for a, w in zip(arrays, weak)]
            return jax.tree.map(lambda out, like: np.asarray(out, like.dtype), function(*arrays), result)

        return jax.pure_callback(in_numpy, result, *values, vmap_method="sequential")

    return _JaxRun(lambda *values: call(entry.evaluate, value_shape(values), values),
                   lambda *values: call(entry.value_and_grads, (value_shape(values), grad_shapes(values)), values))
