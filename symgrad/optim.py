"""The update rules and initializations of the lecture notes ("Faster
Optimizers", "Weight Initialization"), in NumPy, for the modules symgrad
compiles.

The parameters are a dict (or a NamedTuple) of arrays and numbers; the
gradients are the `Grads` NamedTuple that `value_and_grad` returns (or a
dict), matched to the parameters by name. `step` returns new parameters of the
same kind and leaves the given ones as they were; a parameter with no gradient
keeps its value. Every rule keeps its state (m, s, ...) per parameter name.

    opt = optim.Adam(lr=1e-3)
    for X, Y in batches:
        J, grads = model.value_and_grad(**opt.lookahead(params), X=X, Y=Y)
        params = opt.step(params, grads)

A gradient may be a module's SparseGrad (from `value_and_grad_sparse`, for
an embedding matrix L read only through gathers): SGD then subtracts
η times its values from the touched columns (rows) of L in place, and
returns that same array (a new L would cost the array of L's size the
sparse form avoids); every other rule takes its `.dense()` gradient and
updates as ever, exactly (their state, m or s, moves every entry at every
step, so a lazy update of the touched entries alone would be another rule).

`lookahead` is where the gradient of the next step is taken: θ itself for
every rule but Nesterov's. Notation: θ a parameter, g = ∇θ J(θ) its gradient,
η the learning rate, ⊗ and ⊘ elementwise product and division.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adam", "AdaDelta", "xavier", "he"]


def _named(values) -> dict:
    """A dict of the entries of a dict or NamedTuple."""
    return dict(values._asdict()) if hasattr(values, "_asdict") else dict(values)


class Optimizer:
    """What every rule shares: matching gradients to parameters by name and
    counting steps (`t`, 1 during the first step)."""

    def __init__(self):
        self.t = 0

    def lookahead(self, params):
        """Where to take the gradient for the next step: the parameters."""
        return params

    def step(self, params, grads):
        """New parameters, one update from grads (a parameter without a
        gradient is kept; a gradient without a parameter is a KeyError)."""
        values, gradients = _named(params), _named(grads)
        unknown = sorted(set(gradients) - set(values))
        if unknown:
            raise KeyError(f"gradients of {', '.join(unknown)}, which are not among the parameters "
                           f"({', '.join(values)})")
        self.t += 1
        new = {name: self.update_sparse(name, values[name], g) if _sparse(g) else self.update(name, values[name], g)
               for name, g in gradients.items()}
        return params._replace(**new) if hasattr(params, "_replace") else {**values, **new}

    def update(self, name, theta, g):
        """The new value of one parameter."""
        raise NotImplementedError

    def update_sparse(self, name, theta, g):
        """The new value of one parameter from a SparseGrad: that of its
        dense gradient (every rule but SGD)."""
        return self.update(name, theta, g.dense())


def _sparse(g) -> bool:
    """Whether g is a SparseGrad (the ids and the summed columns or rows of
    a variable read only through gathers) rather than an array."""
    return hasattr(g, "dense") and hasattr(g, "ids") and hasattr(g, "axis")


class SGD(Optimizer):
    """Gradient descent (mini-batch SGD when g is a batch's gradient):

        Δw = -η ∂J/∂w,   w := w + Δw
    """

    def __init__(self, lr=0.01):
        super().__init__()
        self.lr = lr

    def update(self, name, theta, g):
        delta = -self.lr * g
        return theta + delta

    def update_sparse(self, name, theta, g):
        """θ[:, ids] -= η values (rows: θ[ids]), in place: only the touched
        columns are read and written. The ids are unique, so no two updates
        meet; the entries are those of the dense step θ + (-η g)."""
        index = (slice(None), g.ids) if g.axis == "cols" and np.ndim(theta) == 2 else g.ids
        theta[index] -= self.lr * g.values
        return theta


class Momentum(Optimizer):
    """Momentum (Equation 11-4); m is like a velocity, β how much of the past
    gradients it keeps (terminal velocity 1/(1-β)):

        1. m ← β m + η ∇θ J(θ)
        2. θ ← θ - m
    """

    def __init__(self, lr=0.01, beta=0.9):
        super().__init__()
        self.lr, self.beta, self.m = lr, beta, {}

    def update(self, name, theta, g):
        self.m[name] = m = self.beta * self.m.get(name, 0.0) + self.lr * g
        return theta - m


class Nesterov(Momentum):
    """Nesterov accelerated gradient (Equation 11-5): momentum with the
    gradient taken where the momentum is carrying θ, not at θ:

        1. m ← β m + η ∇θ J(θ - β m)
        2. θ ← θ - m

    The notes print ∇θ J(θ + β m) (as the first edition of the book they
    follow does); with step 2 subtracting m, the point ahead is θ - β m.
    Take the gradient at `lookahead(params)`, then `step(params, grads)`.
    """

    def lookahead(self, params):
        """θ - β m for every parameter that has a velocity."""
        values = _named(params)
        ahead = {name: values[name] - self.beta * m for name, m in self.m.items() if name in values}
        return params._replace(**ahead) if hasattr(params, "_replace") else {**values, **ahead}


class Adagrad(Optimizer):
    """AdaGrad (Equation 11-6): scales each gradient down by the root of the
    sum of its squares so far, which decays the learning rate:

        1. s ← s + ∇θ J(θ) ⊗ ∇θ J(θ)
        2. θ ← θ - η ∇θ J(θ) ⊘ √(s + ε)        (ε = 1e-8 avoids division by zero)
    """

    def __init__(self, lr=0.01, eps=1e-8):
        super().__init__()
        self.lr, self.eps, self.s = lr, eps, {}

    def update(self, name, theta, g):
        self.s[name] = s = self.s.get(name, 0.0) + g * g
        return theta - self.lr * g / np.sqrt(s + self.eps)


class RMSprop(Optimizer):
    """RMSProp (Equation 11-7): AdaGrad with an exponentially decaying
    average of the squared gradients (β on the past, 1 - β on the newest):

        1. s ← β s + (1 - β) ∇θ J(θ) ⊗ ∇θ J(θ)
        2. θ ← θ - η ∇θ J(θ) ⊘ √(s + ε)
    """

    def __init__(self, lr=0.001, beta=0.9, eps=1e-8):
        super().__init__()
        self.lr, self.beta, self.eps, self.s = lr, beta, eps, {}

    def update(self, name, theta, g):
        self.s[name] = s = self.beta * self.s.get(name, 0.0) + (1 - self.beta) * g * g
        return theta - self.lr * g / np.sqrt(s + self.eps)


class Adam(Optimizer):
    """Adam, adaptive moment estimation (Equation 11-8): a decaying average
    of the gradients (momentum) over one of their squares (RMSProp), both
    corrected for their start at 0; T is the iteration number, from 1:

        1. m ← β₁ m + (1 - β₁) ∇θ J(θ)
        2. s ← β₂ s + (1 - β₂) ∇θ J(θ) ⊗ ∇θ J(θ)
        3. m̂ = m / (1 - β₁ᵀ)
        4. ŝ = s / (1 - β₂ᵀ)
        5. θ ← θ - η m̂ ⊘ √(ŝ + ε)

    The notes write steps 3 and 4 as m ← m / (1 - β₁ᵀ): the corrected values
    are used in step 5 only, and m and s keep their uncorrected averages.
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__()
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m, self.s = {}, {}

    def update(self, name, theta, g):
        self.m[name] = m = self.beta1 * self.m.get(name, 0.0) + (1 - self.beta1) * g
        self.s[name] = s = self.beta2 * self.s.get(name, 0.0) + (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** self.t)
        s_hat = s / (1 - self.beta2 ** self.t)
        return theta - self.lr * m_hat / np.sqrt(s_hat + self.eps)


class AdaDelta(Optimizer):
    """AdaDelta: RMSProp whose learning rate is replaced by the RMS of the
    past updates, with RMS[y]ₜ = √(E[y²]ₜ + ε):

        E[g²]ₜ  = γ E[g²]ₜ₋₁ + (1 - γ) gₜ²
        Δθₜ     = -(RMS[Δθ]ₜ₋₁ / RMS[g]ₜ) gₜ
        E[Δθ²]ₜ = γ E[Δθ²]ₜ₋₁ + (1 - γ) Δθₜ²
        θₜ₊₁    = θₜ + η Δθₜ

    η is the learning rate TensorFlow adds, 1 as the notes set it (then the
    last line is the notes' θₜ₊₁ = θₜ + Δθₜ). γ = 0.95 and ε = 1e-6 are the
    values of Zeiler's paper.
    """

    def __init__(self, lr=1.0, gamma=0.95, eps=1e-6):
        super().__init__()
        self.lr, self.gamma, self.eps = lr, gamma, eps
        self.g2, self.d2 = {}, {}

    def update(self, name, theta, g):
        gamma, eps = self.gamma, self.eps
        self.g2[name] = g2 = gamma * self.g2.get(name, 0.0) + (1 - gamma) * g * g
        delta = -np.sqrt(self.d2.get(name, 0.0) + eps) / np.sqrt(g2 + eps) * g
        self.d2[name] = gamma * self.d2.get(name, 0.0) + (1 - gamma) * delta * delta
        return theta + self.lr * delta


def xavier(shape, rng=None):
    """Xavier/Glorot initialization (Glorot & Bengio's formula): normal
    weights with Var(W) = 2 / (n_in + n_out), which keeps the variance of the
    activations and of the gradients alike from layer to layer. shape is
    (n_out, n_in), a W that multiplies a column: W x. rng: a seed or a
    numpy Generator."""
    n_out, n_in = shape
    return np.random.default_rng(rng).standard_normal(shape) * np.sqrt(2.0 / (n_in + n_out))


def he(shape, rng=None):
    """He initialization, for ReLU layers (a rectifier is zero for half its
    inputs): normal weights with Var(W) = 2 / n_in. shape is (n_out, n_in),
    as for xavier."""
    n_out, n_in = shape
    return np.random.default_rng(rng).standard_normal(shape) * np.sqrt(2.0 / n_in)
