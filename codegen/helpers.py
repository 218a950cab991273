"""The helpers that generated modules of every target carry as they are,
written on no array library of their own: `_halves` reads `_cuts`,
`_chain_cost(dims)` and `_product(factors)`, which each target's helpers
file defines in its `halves_parts` helper (NumPy's multi_dot there, the
array-API target's own); the directions of a Hessian-vector product are
checked here, and taken by each target's `_directions`. Read as text, as
the targets' runtime files are (codegen.RUNTIME_FILES); importing it
defines the functions alone."""

# ---------------------------------------------------------------- carried
# helper: halves  (needs: halves_parts)
def _halves(factors, cyclic):
    """(L, R): the products of two parts of the square product F1 F2 ... Fk,
    L R = F1 ... Fk, or with `cyclic` any cyclic shift of it, cut where
    computing L, R and L ∘ Rᵀ takes the fewest multiplications (chosen once
    per sizes)."""
    k = len(factors)
    sizes = tuple(f.shape[0] for f in factors) * 2  # F[i] is sizes[i]×sizes[i + 1], around the cycle
    cut = _cuts.get((sizes, cyclic))
    if cut is None:
        def cost(i, j):  # L = F[i:j] (sizes[i]×sizes[j]), R = F[j:k + i]
            return _chain_cost(sizes[i:j + 1]) + _chain_cost(sizes[j:k + i + 1]) + sizes[i] * sizes[j]
        cuts = ((i, j) for i in range(k if cyclic else 1) for j in range(i + 1, k + i))
        cut = _cuts[sizes, cyclic] = min(cuts, key=lambda c: cost(*c))
    i, j = cut
    cycle = factors + factors
    return _product(cycle[i:j]), _product(cycle[j:k + i])


# helper: direction_parts
def _direction_parts(direction, expected):
    """The directions of a Hessian-vector product paired with their
    variables' (name, shape taken), in order: a tuple of one per variable,
    or one array where there is one variable; ValueError for a wrong count."""
    if len(expected) == 1 and not isinstance(direction, tuple):
        direction = (direction,)
    if not isinstance(direction, tuple) or len(direction) != len(expected):
        count = len(direction) if isinstance(direction, tuple) else "one array"
        raise ValueError(f"direction: expected a tuple of {len(expected)} arrays "
                         f"({', '.join(name for name, _ in expected)}), got {count}")
    return zip(direction, expected)


# helper: direction_shape
def _direction_shape(name, given, shape):
    """Raise the ValueError of a direction of variable `name` given in shape
    `given` where its variable is taken in `shape`, unless it fits: the
    shape itself, (n,) for a vector, any one entry for a scalar."""
    given = tuple(given)
    size = shape[0] * shape[1] if shape else 1
    vector = len(shape) == 2 and 1 in shape
    if given == shape or vector and given == (size,) or not shape and given in ((), (1,), (1, 1)):
        return
    text = f"{shape} or ({size},)" if vector else f"{shape}" if shape else "() (a number)"
    raise ValueError(f"direction of {name}: expected shape {text}, got shape {given}")
