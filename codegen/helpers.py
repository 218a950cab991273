"""The helpers that generated modules of every target carry as they are,
written on no array library of their own: `_halves` reads `_cuts`,
`_chain_cost(dims)` and `_product(factors)`, which each target's helpers
file defines in its `halves_parts` helper (NumPy's multi_dot there, the
array-API target's own). Read as text, as the targets' runtime files are
(codegen.RUNTIME_FILES); importing it defines `_halves` alone."""

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
