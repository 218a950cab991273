"""Outside references: models from public course material, written in `.sg`
the way the material writes them, compiled with symgrad.compile_source, and
compared with plain NumPy written here by hand: the value and every gradient.
The NumPy gradients are the textbook's own formulas (CS231n's (P - Y)/N, the
Cookbook's Aᵀ Bᵀ, backprop through time step by step), never symgrad's
output, so a model that symgrad misreads cannot pass by agreeing with
itself (issue 11).

Sources:
- CS231n (Stanford, "Convolutional Neural Networks for Visual Recognition"):
  the course notes on linear classification (multiclass SVM and softmax
  losses, L2 regularization), neural networks (activation functions,
  dropout, batch normalization) and the assignment layers (layers.py:
  affine, relu, batchnorm, layernorm, dropout; rnn_layers.py: rnn and lstm
  steps; linear_svm.py, softmax.py, neural_net.py).
- CS224N (Stanford, "Natural Language Processing with Deep Learning"): the
  lecture notes on window classification and its max-margin loss,
  assignment 2 (word2vec: naive-softmax and negative-sampling losses, the
  skip-gram window), assignment 3 (the neural dependency parser), the
  lectures on language models and RNNs, gated recurrent units, and
  scaled dot-product attention.
- The Matrix Cookbook (Petersen and Pedersen, 2012): derivatives of
  determinants, inverses, scalar forms, traces and norms.

Conventions. Examples are columns (the language's convention; CS231n stores
them as rows, so its formulas appear transposed where they use a batch),
except where a model keeps the rows of its source (the affine layer, linear
regression). Vectors are 1-D NumPy arrays. Every test draws from its own
seeded generator, at small sizes that differ from one another (3, 4, 5...),
in float64, and compares with rtol = 1e-10.

Grouping. Several models are written with the grouping a reader could
misread (`1/N sum(...)`, `1/N (xc ∘ xc) one`, `1/p (X ∘ mask)`,
`1/N (X w - y)ᵀ (X w - y)`, `reg/2 ||W||^2`, `1/2 ||r||^2`,
`1/2 (x - μ)ᵀ Σ⁻¹ (x - μ)`, `1/sqrt(d) (Kᵀ Q)`, `M ∘ W (X)`), each beside
the same model with its grouping written out; the contract reads operators
of one level left to right: `1/N (xc ∘ xc) one` is `((1/N) (xc ∘ xc)) one`.
Those that release 2680e37 misreads (a name followed by `(` taken as one
factor: `a/b (c)` read as `a/(b c)`) are marked xfail(strict=True) with the
issue item, so that they turn into failures to un-mark when the fix lands.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from reference_numpy import log_softmax, logsumexp, one_hot, sigmoid, softmax

import symgrad

RTOL = 1e-10
# The absolute floor for entries that are 0 or cancel to near 0 (masked
# classes, normalized sums): every value here is of order 1.
ATOL = 1e-12


def assert_model(text: str, args: dict, value, grads: dict):
    """The model `text` (indented freely), at `args`, has the value `value`
    and exactly the gradients `grads` (name -> array), each to RTOL. The
    value is checked twice: `evaluate` is generated apart from the gradient
    code, and is what a training loop calls for validation."""
    module = symgrad.compile_source(textwrap.dedent(text))
    np.testing.assert_allclose(module.evaluate(**args), value, rtol=RTOL, atol=ATOL, err_msg="evaluate")
    got_value, got_grads = module.value_and_grad(**args)
    np.testing.assert_allclose(got_value, value, rtol=RTOL, atol=ATOL, err_msg="value_and_grad's value")
    assert sorted(got_grads._fields) == sorted(grads), "the gradients returned"
    for name, expected in grads.items():
        got = getattr(got_grads, name)
        assert np.shape(got) == np.shape(expected), f"shape of d/d{name}"
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"d/d{name}")


def invertible(rng, n: int):
    """A non-symmetric n x n matrix with positive determinant, far from
    singular (so that X⁻¹ and X⁻ᵀ differ, and logdet is defined)."""
    X = rng.normal(size=(n, n)) + n * np.eye(n)
    assert np.linalg.det(X) > 0
    return X


def spd(rng, n: int):
    """A symmetric positive definite n x n matrix, well conditioned."""
    A = rng.normal(size=(n, n))
    return A @ A.T + n * np.eye(n)


def labels_one_hot(rng, classes: int, N: int):
    return one_hot(rng.integers(0, classes, size=N), classes)


# =============================================================== CS231n

def test_cs231n_affine_layer():
    """layers.affine_forward / affine_backward, examples as rows:
    out = X W + b; dX = dout Wᵀ, dW = Xᵀ dout, db = Σ_rows dout."""
    rng = np.random.default_rng(1)
    N, D, M = 5, 4, 3
    X, W, b, G = rng.normal(size=(N, D)), rng.normal(size=(D, M)), rng.normal(size=(1, M)), rng.normal(size=(N, M))
    assert_model("""
        param W : R^(D x M)
        param b : R^(1 x M)      # one bias per output, added to every row
        input X : R^(N x D)      # examples as rows
        input G : R^(N x M)      # the upstream gradient dout
        out = X W + b
        L = sum(G ∘ out)
        grad L wrt W, b, X
        """, dict(W=W, b=b, X=X, G=G), np.sum(G * (X @ W + b)),
        dict(W=X.T @ G, b=G.sum(axis=0, keepdims=True), X=G @ W.T))


def test_cs231n_relu_layer():
    """layers.relu_backward: dX = dout where X > 0, else 0."""
    rng = np.random.default_rng(2)
    X, G = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    assert_model("""
        input X : R^(n x N)
        input G : R^(n x N)
        L = sum(G ∘ relu(X))
        grad L wrt X
        """, dict(X=X, G=G), np.sum(G * np.maximum(X, 0)), dict(X=G * (X > 0)))


def test_cs231n_leaky_relu_layer():
    """Leaky ReLU (notes, "Activation functions"): max(a x, x) for small a;
    its derivative is 1 for x > 0, a otherwise."""
    rng = np.random.default_rng(3)
    X, G = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    assert_model("""
        input X : R^(n x N)
        input G : R^(n x N)
        L = sum(G ∘ leaky_relu(X, 0.01))
        grad L wrt X
        """, dict(X=X, G=G), np.sum(G * np.where(X > 0, X, 0.01 * X)), dict(X=G * np.where(X > 0, 1.0, 0.01)))


def test_cs231n_sigmoid_layer():
    """σ'(x) = σ(x) (1 - σ(x))."""
    rng = np.random.default_rng(4)
    X, G = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    s = sigmoid(X)
    assert_model("""
        input X : R^(n x N)
        input G : R^(n x N)
        L = sum(G ∘ σ(X))
        grad L wrt X
        """, dict(X=X, G=G), np.sum(G * s), dict(X=G * s * (1 - s)))


def test_cs231n_tanh_layer():
    """tanh'(x) = 1 - tanh(x)²."""
    rng = np.random.default_rng(5)
    X, G = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    t = np.tanh(X)
    assert_model("""
        input X : R^(n x N)
        input G : R^(n x N)
        L = sum(G ∘ tanh(X))
        grad L wrt X
        """, dict(X=X, G=G), np.sum(G * t), dict(X=G * (1 - t * t)))


def test_cs231n_softmax_layer():
    """The softmax Jacobian applied to dout, column by column:
    dS = P ∘ (dout - Σ_i P_i dout_i)."""
    rng = np.random.default_rng(6)
    S, G = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    P = softmax(S)
    assert_model("""
        input S : R^(C x N)
        input G : R^(C x N)
        L = sum(G ∘ softmax(S))
        grad L wrt S
        """, dict(S=S, G=G), np.sum(G * P), dict(S=P * (G - np.sum(G * P, axis=0))))


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cs231n_softmax_loss(scale):
    """Softmax cross-entropy of a batch: L = -1/N Σ_i log P[y_i, i],
    dS = (P - Y) / N; also at scores of order 1000, where the notes'
    "numeric stability" shift by the max is needed (P underflows to 0 at
    wrong classes, log P does not)."""
    rng = np.random.default_rng(7)
    C, N = 4, 5
    S, Y = scale * rng.normal(size=(C, N)), labels_one_hot(rng, C, N)
    P = softmax(S)
    assert_model("""
        param S : R^(C x N)      # class scores, one column per example
        const Y : R^(C x N)      # one-hot labels
        L = -1/N sum(Y ∘ log_softmax(S))
        grad L
        """, dict(S=S, Y=Y), -np.mean(np.sum(Y * log_softmax(S), axis=0)), dict(S=(P - Y) / N))


def test_cs231n_softmax_loss_logsumexp_form():
    """The same loss written as the notes expand it,
    L_i = -s_{y_i} + log Σ_j e^{s_j}, averaged with `1/N sum(...)`."""
    rng = np.random.default_rng(8)
    C, N = 3, 5
    S, Y = rng.normal(size=(C, N)), labels_one_hot(rng, C, N)
    assert_model("""
        param S : R^(C x N)
        const Y : R^(C x N)
        L = 1/N sum(logsumexp(S)) - 1/N sum(Y ∘ S)
        grad L
        """, dict(S=S, Y=Y), np.mean(logsumexp(S) - np.sum(Y * S, axis=0)), dict(S=(softmax(S) - Y) / N))


def test_cs231n_softmax_classifier_with_l2():
    """softmax.softmax_loss_vectorized with a bias: J = -1/N Σ log P + reg ||W||²,
    dW = (P - Y) Xᵀ / N + 2 reg W, db = Σ_columns (P - Y) / N."""
    rng = np.random.default_rng(9)
    C, D, N, reg = 3, 4, 5, 0.3
    W, b, X, Y = rng.normal(size=(C, D)), rng.normal(size=C), rng.normal(size=(D, N)), labels_one_hot(rng, C, N)
    P = softmax(W @ X + b[:, None])
    dS = (P - Y) / N
    assert_model("""
        param W : R^(C x D)
        param b : R^C
        input X : R^(D x N)
        const Y : R^(C x N)
        const reg : R
        S = W X + b
        J = -1/N sum(Y ∘ log_softmax(S)) + reg ||W||^2
        grad J wrt W, b
        """, dict(W=W, b=b, X=X, Y=Y, reg=reg),
        -np.mean(np.log(np.sum(P * Y, axis=0))) + reg * np.sum(W * W),
        dict(W=dS @ X.T + 2 * reg * W, b=dS.sum(axis=1)))


def svm_loss_naive(W, X, y, reg):
    """linear_svm.svm_loss_naive, examples as columns: loops over the
    examples and the wrong classes, margin 1."""
    loss, dW = 0.0, np.zeros_like(W)
    N = X.shape[1]
    for i in range(N):
        scores = W @ X[:, i]
        for j in range(W.shape[0]):
            margin = scores[j] - scores[y[i]] + 1
            if j != y[i] and margin > 0:
                loss += margin
                dW[j] += X[:, i]
                dW[y[i]] -= X[:, i]
    return loss / N + reg * np.sum(W * W), dW / N + 2 * reg * W


def test_cs231n_multiclass_svm_loss():
    """The multiclass SVM (hinge) loss of a batch with L2 regularization,
    compared with the naive loops of linear_svm.py. Each column's correct
    score is picked with a one-hot mask and a column of ones."""
    rng = np.random.default_rng(10)
    C, D, N, reg = 4, 3, 5, 0.1
    W, X, y = rng.normal(size=(C, D)), rng.normal(size=(D, N)), rng.integers(0, C, size=N)
    loss, dW = svm_loss_naive(W, X, y, reg)
    assert_model("""
        param W : R^(C x D)
        input X : R^(D x N)
        const Y : R^(C x N)      # one-hot labels
        const one : R^C          # ones: oneᵀ (Y ∘ S) is each column's correct score
        const reg : R
        S = W X
        correct = one^T (Y ∘ S)
        margins = max(0, S - correct + 1)
        L = 1/N sum((1 - Y) ∘ margins) + reg sum(W ∘ W)
        grad L wrt W
        """, dict(W=W, X=X, Y=one_hot(y, C), one=np.ones(C), reg=reg), loss, dict(W=dW))


def test_cs231n_svm_loss_of_one_example():
    """The hinge loss of one example, L_i = Σ_{j≠y} max(0, s_j - s_y + Δ),
    with the scores as the variable (the notes' worked form)."""
    rng = np.random.default_rng(11)
    k, delta, label = 5, 1.0, 2
    s = rng.normal(size=k)
    margins = np.maximum(0, s - s[label] + delta)
    margins[label] = 0
    ds = (margins > 0).astype(float)
    ds[label] = -ds.sum()
    assert_model("""
        input s : R^k
        const y : R^k            # one-hot: the true class
        const delta : R
        L = sum((1 - y) ∘ max(0, s - y^T s + delta))
        grad L wrt s
        """, dict(s=s, y=one_hot(label, k), delta=delta), margins.sum(), dict(s=ds))


@pytest.mark.parametrize("penalty", [
    "reg/2 ||W||^2",
    "1/2 reg ||W||^2",
    "reg/2 sum(W ∘ W)",
    "0.5 reg sum(W .^ 2)",
    "(reg/2) (||W||^2)",
    "reg ||W||^2 / 2",
])
def test_cs231n_l2_regularization(penalty):
    """R(W) = ½ λ Σ W², written the ways people write it; ∂R/∂W = λ W."""
    rng = np.random.default_rng(12)
    W, reg = rng.normal(size=(3, 4)), 0.7
    assert_model(f"""
        param W : R^(n x m)
        const reg : R
        R = {penalty}
        grad R
        """, dict(W=W, reg=reg), 0.5 * reg * np.sum(W * W), dict(W=reg * W))


def two_layer_net(W1, b1, W2, b2, X, Y, reg):
    """neural_net.TwoLayerNet.loss, examples as columns: ReLU hidden layer,
    softmax loss, reg Σ W² on both weights; backprop written layer by layer."""
    N = X.shape[1]
    hidden = np.maximum(0, W1 @ X + b1[:, None])
    P = softmax(W2 @ hidden + b2[:, None])
    loss = -np.mean(np.log(np.sum(P * Y, axis=0))) + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dS = (P - Y) / N
    dhidden = (W2.T @ dS) * (hidden > 0)
    return loss, dict(W1=dhidden @ X.T + 2 * reg * W1, b1=dhidden.sum(axis=1),
                      W2=dS @ hidden.T + 2 * reg * W2, b2=dS.sum(axis=1))


@pytest.mark.parametrize("penalty", [
    "reg (||W1||^2 + ||W2||^2)",
    "reg ||W1||^2 + reg ||W2||^2",
    "2 reg/2 (||W1||^2 + ||W2||^2)",
])
def test_cs231n_two_layer_net(penalty):
    rng = np.random.default_rng(13)
    D, H, C, N, reg = 4, 5, 3, 6, 0.05
    args = dict(W1=rng.normal(size=(H, D)), b1=rng.normal(size=H), W2=rng.normal(size=(C, H)),
                b2=rng.normal(size=C), X=rng.normal(size=(D, N)), Y=labels_one_hot(rng, C, N), reg=reg)
    loss, grads = two_layer_net(**args)
    assert_model(f"""
        param W1 : R^(H x D)
        param b1 : R^H
        param W2 : R^(C x H)
        param b2 : R^C
        input X : R^(D x N)
        const Y : R^(C x N)
        const reg : R
        hidden = relu(W1 X + b1)
        S = W2 hidden + b2
        L = -1/N sum(Y ∘ log_softmax(S)) + {penalty}
        grad L
        """, args, loss, grads)


def normalize_backward(dxhat, xhat, inv_std, axis: int):
    """The backward pass of x̂ = (x - mean) / sqrt(var + eps) along `axis`
    (CS231n batchnorm_backward_alt):
    dx = (1/N) inv_std (N dx̂ - Σ dx̂ - x̂ Σ dx̂ ∘ x̂), the sums along axis."""
    N = xhat.shape[axis]
    return inv_std / N * (N * dxhat - dxhat.sum(axis=axis, keepdims=True)
                          - xhat * np.sum(dxhat * xhat, axis=axis, keepdims=True))


@pytest.mark.parametrize("variance", [
    "(1/N) ((xc ∘ xc) one)",
    "1/N ((xc ∘ xc) one)",
    "1/N (xc ∘ xc) one",
])
def test_cs231n_batchnorm_training_forward(variance):
    """layers.batchnorm_forward in training mode, written with explicit 1/N
    sums (each feature, a row, normalized over the batch's N columns), and
    the gradients of batchnorm_backward."""
    rng = np.random.default_rng(14)
    D, N, eps = 3, 5, 1e-5
    X, G = rng.normal(2.0, 3.0, size=(D, N)), rng.normal(size=(D, N))
    gamma, beta = rng.normal(size=D), rng.normal(size=D)
    xc = X - X.mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(xc.var(axis=1, keepdims=True) + eps)
    xhat = xc * inv_std
    assert_model(f"""
        param gamma : R^D
        param beta : R^D
        input X : R^(D x N)
        input G : R^(D x N)      # the upstream gradient dout
        const one : R^N
        const eps : R
        mu = 1/N X one
        xc = X - mu
        var = {variance}
        xhat = xc / sqrt(var + eps)
        out = gamma ∘ xhat + beta
        L = sum(G ∘ out)
        grad L wrt gamma, beta, X
        """, dict(gamma=gamma, beta=beta, X=X, G=G, one=np.ones(N), eps=eps),
        np.sum(G * (gamma[:, None] * xhat + beta[:, None])),
        dict(gamma=np.sum(G * xhat, axis=1), beta=G.sum(axis=1),
             X=normalize_backward(G * gamma[:, None], xhat, inv_std, axis=1)))


def test_cs231n_layernorm_forward():
    """layers.layernorm_forward: each example (a column) normalized over
    its D features, with rows of ones for the 1/D sums."""
    rng = np.random.default_rng(15)
    D, N, eps = 4, 3, 1e-5
    X, G = rng.normal(-1.0, 2.0, size=(D, N)), rng.normal(size=(D, N))
    gamma, beta = rng.normal(size=D), rng.normal(size=D)
    xc = X - X.mean(axis=0, keepdims=True)
    inv_std = 1 / np.sqrt(xc.var(axis=0, keepdims=True) + eps)
    xhat = xc * inv_std
    assert_model("""
        param gamma : R^D
        param beta : R^D
        input X : R^(D x N)
        input G : R^(D x N)
        const one : R^D
        const eps : R
        mu = 1/D one^T X
        xc = X - mu
        var = 1/D one^T (xc ∘ xc)
        xhat = xc / sqrt(var + eps)
        L = sum(G ∘ (gamma ∘ xhat + beta))
        grad L wrt gamma, beta, X
        """, dict(gamma=gamma, beta=beta, X=X, G=G, one=np.ones(D), eps=eps),
        np.sum(G * (gamma[:, None] * xhat + beta[:, None])),
        dict(gamma=np.sum(G * xhat, axis=1), beta=G.sum(axis=1),
             X=normalize_backward(G * gamma[:, None], xhat, inv_std, axis=0)))


@pytest.mark.parametrize("dropped", [
    "X ∘ mask / p",
    "(1/p) (X ∘ mask)",
    "1/p (X ∘ mask)",
])
def test_cs231n_inverted_dropout(dropped):
    """layers.dropout_forward in training mode (inverted dropout, the mask
    given as an input): out = X ∘ mask / p, dX = dout ∘ mask / p."""
    rng = np.random.default_rng(16)
    p = 0.6
    X, G = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    mask = (rng.random(size=(4, 5)) < p).astype(float)
    assert_model(f"""
        input X : R^(n x N)
        input G : R^(n x N)
        const mask : R^(n x N)
        const p : R              # the probability of keeping a unit
        out = {dropped}
        L = sum(G ∘ out)
        grad L wrt X
        """, dict(X=X, G=G, mask=mask, p=p), np.sum(G * X * mask / p), dict(X=G * mask / p))


@pytest.mark.parametrize("masked", [
    "(M ∘ W) X",
    "M ∘ W (X)",
])
def test_cs231n_dropconnect_layer(masked):
    """DropConnect (the notes' "Regularization" section): a random mask on
    the weights, S = (M ∘ W) X; dW = M ∘ (dS Xᵀ), dX = (M ∘ W)ᵀ dS."""
    rng = np.random.default_rng(17)
    W, X, G = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    M = (rng.random(size=(3, 4)) < 0.5).astype(float)
    assert_model(f"""
        param W : R^(n x m)
        input X : R^(m x N)
        input G : R^(n x N)
        const M : R^(n x m)
        S = {masked}
        L = sum(G ∘ S)
        grad L wrt W, X
        """, dict(W=W, X=X, G=G, M=M), np.sum(G * ((M * W) @ X)), dict(W=M * (G @ X.T), X=(M * W).T @ G))


def test_cs231n_rnn_step():
    """rnn_layers.rnn_step_forward / rnn_step_backward, examples as columns:
    h = tanh(Wx x + Wh h0 + b)."""
    rng = np.random.default_rng(18)
    D, H, N = 3, 4, 5
    Wx, Wh, b = rng.normal(size=(H, D)), rng.normal(size=(H, H)) / 2, rng.normal(size=H)
    x, h0, G = rng.normal(size=(D, N)), rng.normal(size=(H, N)), rng.normal(size=(H, N))
    h = np.tanh(Wx @ x + Wh @ h0 + b[:, None])
    da = G * (1 - h * h)
    assert_model("""
        param Wx : R^(H x D)
        param Wh : R^(H x H)
        param b : R^H
        input x : R^(D x N)
        input h0 : R^(H x N)
        input G : R^(H x N)
        h = tanh(Wx x + Wh h0 + b)
        L = sum(G ∘ h)
        grad L wrt Wx, Wh, b, x, h0
        """, dict(Wx=Wx, Wh=Wh, b=b, x=x, h0=h0, G=G), np.sum(G * h),
        dict(Wx=da @ x.T, Wh=da @ h0.T, b=da.sum(axis=1), x=Wx.T @ da, h0=Wh.T @ da))


def test_cs231n_rnn_two_steps_backprop_through_time():
    """rnn_layers.rnn_backward over two steps that share Wx, Wh and b: the
    weights' gradients add up over the steps, and step 1's hidden state
    gets the gradient of its own loss and of step 2."""
    rng = np.random.default_rng(19)
    D, H, N = 4, 3, 2
    Wx, Wh, b = rng.normal(size=(H, D)), rng.normal(size=(H, H)) / 2, rng.normal(size=H)
    x1, x2, h0 = rng.normal(size=(D, N)), rng.normal(size=(D, N)), rng.normal(size=(H, N))
    G1, G2 = rng.normal(size=(H, N)), rng.normal(size=(H, N))
    h1 = np.tanh(Wx @ x1 + Wh @ h0 + b[:, None])
    h2 = np.tanh(Wx @ x2 + Wh @ h1 + b[:, None])
    da2 = G2 * (1 - h2 * h2)
    da1 = (G1 + Wh.T @ da2) * (1 - h1 * h1)
    assert_model("""
        param Wx : R^(H x D)
        param Wh : R^(H x H)
        param b : R^H
        input x1 : R^(D x N)
        input x2 : R^(D x N)
        input h0 : R^(H x N)
        input G1 : R^(H x N)
        input G2 : R^(H x N)
        h1 = tanh(Wx x1 + Wh h0 + b)
        h2 = tanh(Wx x2 + Wh h1 + b)
        L = sum(G1 ∘ h1) + sum(G2 ∘ h2)
        grad L wrt Wx, Wh, b, x1, x2, h0
        """, dict(Wx=Wx, Wh=Wh, b=b, x1=x1, x2=x2, h0=h0, G1=G1, G2=G2), np.sum(G1 * h1) + np.sum(G2 * h2),
        dict(Wx=da1 @ x1.T + da2 @ x2.T, Wh=da1 @ h0.T + da2 @ h1.T, b=(da1 + da2).sum(axis=1),
             x1=Wx.T @ da1, x2=Wx.T @ da2, h0=Wh.T @ da1))


def test_cs231n_lstm_step():
    """rnn_layers.lstm_step_forward / lstm_step_backward, one weight matrix
    per gate (the language's first edition has no blocks): i, f, o = σ(·),
    g = tanh(·), c = f ∘ c0 + i ∘ g, h = o ∘ tanh(c)."""
    rng = np.random.default_rng(20)
    D, H, N = 3, 4, 2
    args = {f"{kind}{gate}": rng.normal(size=size) / 2
            for gate in "ifog" for kind, size in (("W", (H, D)), ("U", (H, H)), ("b", H))}
    args.update(x=rng.normal(size=(D, N)), h0=rng.normal(size=(H, N)), c0=rng.normal(size=(H, N)),
                Gh=rng.normal(size=(H, N)), Gc=rng.normal(size=(H, N)))
    x, h0, c0, Gh, Gc = (args[k] for k in ("x", "h0", "c0", "Gh", "Gc"))
    a = {gate: args["W" + gate] @ x + args["U" + gate] @ h0 + args["b" + gate][:, None] for gate in "ifog"}
    i, f, o, g = sigmoid(a["i"]), sigmoid(a["f"]), sigmoid(a["o"]), np.tanh(a["g"])
    c = f * c0 + i * g
    tc = np.tanh(c)
    h = o * tc
    dc = Gc + Gh * o * (1 - tc * tc)
    da = dict(i=dc * g * i * (1 - i), f=dc * c0 * f * (1 - f), o=Gh * tc * o * (1 - o), g=dc * i * (1 - g * g))
    grads = {}
    for gate in "ifog":
        grads.update({"W" + gate: da[gate] @ x.T, "U" + gate: da[gate] @ h0.T, "b" + gate: da[gate].sum(axis=1)})
    grads.update(x=sum(args["W" + gate].T @ da[gate] for gate in "ifog"),
                 h0=sum(args["U" + gate].T @ da[gate] for gate in "ifog"), c0=dc * f)
    assert_model("""
        param Wi : R^(H x D)
        param Ui : R^(H x H)
        param bi : R^H
        param Wf : R^(H x D)
        param Uf : R^(H x H)
        param bf : R^H
        param Wo : R^(H x D)
        param Uo : R^(H x H)
        param bo : R^H
        param Wg : R^(H x D)
        param Ug : R^(H x H)
        param bg : R^H
        input x : R^(D x N)
        input h0 : R^(H x N)
        input c0 : R^(H x N)
        input Gh : R^(H x N)
        input Gc : R^(H x N)
        i = σ(Wi x + Ui h0 + bi)
        f = σ(Wf x + Uf h0 + bf)
        o = σ(Wo x + Uo h0 + bo)
        g = tanh(Wg x + Ug h0 + bg)
        c = f ∘ c0 + i ∘ g
        h = o ∘ tanh(c)
        L = sum(Gh ∘ h) + sum(Gc ∘ c)
        grad L wrt Wi, Ui, bi, Wf, Uf, bf, Wo, Uo, bo, Wg, Ug, bg, x, h0, c0
        """, args, np.sum(Gh * h) + np.sum(Gc * c), grads)


def test_cs231n_binary_logistic_regression():
    """The binary cross-entropy of a logistic unit over a batch, labels 0/1:
    dz = (σ(z) - y) / N, dw = X dzᵀ, db = Σ dz."""
    rng = np.random.default_rng(21)
    D, N = 3, 5
    w, b, X = rng.normal(size=D), 0.3, rng.normal(size=(D, N))
    y = rng.integers(0, 2, size=(1, N)).astype(float)
    s = sigmoid(w @ X + b)
    dz = (s - y) / N
    assert_model("""
        param w : R^D
        param b : R
        input X : R^(D x N)
        const y : R^(1 x N)      # labels 0 or 1, a row like the scores
        z = w^T X + b
        L = -1/N sum(y ∘ log(σ(z)) + (1 - y) ∘ log(1 - σ(z)))
        grad L
        """, dict(w=w, b=b, X=X, y=y), -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)),
        dict(w=X @ dz.ravel(), b=dz.sum()))


@pytest.mark.parametrize("loss", [
    "1/N ||X w - y||^2",
    "||X w - y||^2 / N",
    "(1/N) ((X w - y)^T (X w - y))",
    "1/N (X w - y)^T (X w - y)",
])
def test_cs231n_mean_squared_error_regression(loss):
    """Regression with the L2 loss (notes, "Regression"), averaged over N
    examples as rows: L = 1/N ||X w - y||²,
    ∇L = 2/N Xᵀ (X w - y)."""
    rng = np.random.default_rng(22)
    N, D = 5, 3
    X, w, y = rng.normal(size=(N, D)), rng.normal(size=D), rng.normal(size=N)
    r = X @ w - y
    assert_model(f"""
        param w : R^D
        input X : R^(N x D)
        input y : R^N
        L = {loss}
        grad L
        """, dict(w=w, X=X, y=y), r @ r / N, dict(w=2 / N * X.T @ r))


@pytest.mark.parametrize("loss", [
    "1/2 ||W x + b - y||^2",
    "||W x + b - y||^2 / 2",
    "0.5 (W x + b - y)^T (W x + b - y)",
])
def test_cs231n_l2_regression_loss(loss):
    """The L2 loss of regression (notes, "Regression"), halved:
    L = ½ ||W x + b - y||², with r = W x + b - y: ∂L/∂W = r xᵀ, ∂L/∂b = r."""
    rng = np.random.default_rng(50)
    k, m = 3, 4
    W, b, x, y = rng.normal(size=(k, m)), rng.normal(size=k), rng.normal(size=m), rng.normal(size=k)
    r = W @ x + b - y
    assert_model(f"""
        param W : R^(k x m)
        param b : R^k
        input x : R^m
        const y : R^k
        L = {loss}
        grad L
        """, dict(W=W, b=b, x=x, y=y), 0.5 * r @ r, dict(W=np.outer(r, x), b=r))


# =============================================================== CS224N

def window_scores(W, b, u, x):
    """s = uᵀ σ(W x + b), its hidden layer h and δ = u ∘ σ'(z) (= ∂s/∂z)."""
    h = sigmoid(W @ x + b)
    return u @ h, h, u * h * (1 - h)


def test_cs224n_window_score():
    """The window classifier's score s = uᵀ f(W x + b), f = σ (lecture
    notes, "Back to Neural Net!"): ∂s/∂W = δ xᵀ, ∂s/∂b = δ, ∂s/∂u = h,
    ∂s/∂x = Wᵀ δ, with δ = u ∘ f'(z)."""
    rng = np.random.default_rng(23)
    n, m = 3, 5
    W, b, u, x = rng.normal(size=(n, m)), rng.normal(size=n), rng.normal(size=n), rng.normal(size=m)
    s, h, delta = window_scores(W, b, u, x)
    assert_model("""
        param W : R^(n x m)
        param b : R^n
        param u : R^n
        input x : R^m
        f(t) = sigmoid(t)
        z = W x + b
        h = f(z)
        s = u^T h
        grad s wrt W, b, u, x
        """, dict(W=W, b=b, u=u, x=x), s, dict(W=np.outer(delta, x), b=delta, u=h, x=W.T @ delta))


def test_cs224n_window_max_margin_loss():
    """J = max(0, 1 - s + s_c): the true window's score s should beat the
    corrupt window's s_c by 1. Where the margin is violated,
    ∂J/∂θ = ∂s_c/∂θ - ∂s/∂θ, the two windows sharing W, b and u."""
    rng = np.random.default_rng(24)
    n, m = 4, 6
    W, b, x, xc = rng.normal(size=(n, m)), rng.normal(size=n), rng.normal(size=m), rng.normal(size=m)
    u = rng.normal(size=n) / 10          # small scores: the margin is violated
    s, h, delta = window_scores(W, b, u, x)
    sc, hc, delta_c = window_scores(W, b, u, xc)
    assert 1 - s + sc > 0
    assert_model("""
        param W : R^(n x m)
        param b : R^n
        param u : R^n
        input x : R^m
        input xc : R^m
        s = u^T σ(W x + b)
        sc = u^T σ(W xc + b)
        J = max(0, 1 - s + sc)
        grad J wrt W, b, u, x, xc
        """, dict(W=W, b=b, u=u, x=x, xc=xc), 1 - s + sc,
        dict(W=np.outer(delta_c, xc) - np.outer(delta, x), b=delta_c - delta, u=hc - h,
             x=-W.T @ delta, xc=W.T @ delta_c))


def test_cs224n_window_softmax_classifier():
    """Window classification with softmax (lecture 3): ŷ = softmax(W x),
    J = -yᵀ log ŷ; ∂J/∂W = (ŷ - y) xᵀ, and ∂J/∂x = Wᵀ (ŷ - y) updates the
    window's word vectors."""
    rng = np.random.default_rng(25)
    C, m = 3, 5
    W, x, y = rng.normal(size=(C, m)), rng.normal(size=m), one_hot(1, C)
    p = softmax(W @ x)
    assert_model("""
        param W : R^(C x m)
        param x : R^m
        const y : R^C
        J = -y^T log_softmax(W x)
        grad J
        """, dict(W=W, x=x, y=y), -np.log(p @ y), dict(W=np.outer(p - y, x), x=W.T @ (p - y)))


def test_cs224n_word2vec_naive_softmax_loss():
    """Assignment 2, naiveSoftmaxLossAndGradient: the outside vectors are
    the rows of U, ŷ = softmax(U v_c), J = -log ŷ_o;
    ∂J/∂v_c = Uᵀ (ŷ - y), ∂J/∂U = (ŷ - y) v_cᵀ."""
    rng = np.random.default_rng(26)
    V, d, o = 7, 3, 4
    v_c, U = rng.normal(size=d), rng.normal(size=(V, d))
    y = one_hot(o, V)
    y_hat = softmax(U @ v_c)
    assert_model("""
        param v_c : R^d          # the center word's vector
        param U : R^(V x d)      # the outside vectors, one per row
        input o : R^V            # the true outside word, one-hot
        J = -o^T log_softmax(U v_c)
        grad J
        """, dict(v_c=v_c, U=U, o=y), -np.log(y_hat[o]),
        dict(v_c=U.T @ (y_hat - y), U=np.outer(y_hat - y, v_c)))


def test_cs224n_word2vec_negative_sampling_loss():
    """Assignment 2, negSamplingLossAndGradient, written with its loops:
    J = -log σ(u_oᵀ v_c) - Σ_k log σ(-u_kᵀ v_c), the K samples drawn with
    replacement (a sample drawn twice counts twice)."""
    rng = np.random.default_rng(27)
    V, d, o = 8, 3, 2
    samples = [5, 1, 5, 7]
    v_c, U = rng.normal(size=d), rng.normal(size=(V, d))
    s = sigmoid(U[o] @ v_c)
    loss, dv, dU = -np.log(s), (s - 1) * U[o], np.zeros_like(U)
    dU[o] += (s - 1) * v_c
    for k in samples:
        s = sigmoid(-U[k] @ v_c)
        loss -= np.log(s)
        dv += (1 - s) * U[k]
        dU[k] += (1 - s) * v_c
    assert_model("""
        param v_c : R^d
        param U : R^(V x d)      # the outside vectors, one per row
        input o : R^V            # the true outside word, one-hot
        input K : R^(V x k)      # the negative samples, one one-hot column each
        u_o = U^T o
        J = -log(σ(u_o^T v_c)) - sum(log(σ(-K^T U v_c)))
        grad J
        """, dict(v_c=v_c, U=U, o=one_hot(o, V), K=one_hot(samples, V)), loss, dict(v_c=dv, U=dU))


def test_cs224n_skipgram_window():
    """Assignment 2, skipgram: the naive-softmax losses of every outside
    word of the window, summed (their one-hot vectors are the columns of O)."""
    rng = np.random.default_rng(28)
    V, d, outside = 6, 4, [0, 3, 3, 5]
    v_c, U = rng.normal(size=d), rng.normal(size=(V, d))
    y_hat = softmax(U @ v_c)
    loss, dv, dU = 0.0, np.zeros(d), np.zeros((V, d))
    for o in outside:
        loss -= np.log(y_hat[o])
        dv += U.T @ (y_hat - one_hot(o, V))
        dU += np.outer(y_hat - one_hot(o, V), v_c)
    assert_model("""
        param v_c : R^d
        param U : R^(V x d)
        input O : R^(V x m)      # the window's outside words, one-hot columns
        J = -sum(O ∘ log_softmax(U v_c))
        grad J
        """, dict(v_c=v_c, U=U, O=one_hot(outside, V)), loss, dict(v_c=dv, U=dU))


def test_cs224n_dependency_parser():
    """Assignment 3, ParserModel in training: embeddings X (one column per
    example), a ReLU hidden layer, inverted dropout with a given mask,
    softmax over the transitions, mean cross-entropy; backprop by hand."""
    rng = np.random.default_rng(29)
    E, H, C, N, keep = 6, 5, 3, 4, 0.7
    W, b1, U, b2 = rng.normal(size=(H, E)), rng.normal(size=H), rng.normal(size=(C, H)), rng.normal(size=C)
    X, Y = rng.normal(size=(E, N)), labels_one_hot(rng, C, N)
    mask = (rng.random(size=(H, N)) < keep).astype(float)
    h = np.maximum(0, W @ X + b1[:, None])
    hd = mask * h / keep
    P = softmax(U @ hd + b2[:, None])
    dS = (P - Y) / N
    da = (U.T @ dS) * mask / keep * (h > 0)
    assert_model("""
        param W : R^(H x E)
        param b1 : R^H
        param U : R^(C x H)
        param b2 : R^C
        param X : R^(E x N)      # the features' embeddings are trained too
        const Y : R^(C x N)
        const mask : R^(H x N)
        const keep : R
        h = relu(W X + b1)
        hd = mask ∘ h / keep
        J = -1/N sum(Y ∘ log_softmax(U hd + b2))
        grad J
        """, dict(W=W, b1=b1, U=U, b2=b2, X=X, Y=Y, mask=mask, keep=keep),
        -np.mean(np.log(np.sum(P * Y, axis=0))),
        dict(W=da @ X.T, b1=da.sum(axis=1), U=dS @ hd.T, b2=dS.sum(axis=1), X=W.T @ da))


def test_cs224n_rnn_language_model_step():
    """One step of the RNN language model (lecture 6):
    h = σ(Wh h0 + We e + b1), ŷ = softmax(U h + b2), J = -log ŷ_y."""
    rng = np.random.default_rng(30)
    H, E, V = 4, 3, 6
    Wh, We, b1 = rng.normal(size=(H, H)), rng.normal(size=(H, E)), rng.normal(size=H)
    U, b2, e, h0, y = rng.normal(size=(V, H)), rng.normal(size=V), rng.normal(size=E), rng.normal(size=H), one_hot(2, V)
    h = sigmoid(Wh @ h0 + We @ e + b1)
    y_hat = softmax(U @ h + b2)
    dl = y_hat - y
    da = (U.T @ dl) * h * (1 - h)
    assert_model("""
        param Wh : R^(H x H)
        param We : R^(H x E)
        param b1 : R^H
        param U : R^(V x H)
        param b2 : R^V
        input e : R^E            # the word's embedding
        input h0 : R^H           # the previous hidden state
        const y : R^V            # the next word, one-hot
        h = σ(Wh h0 + We e + b1)
        J = -y^T log_softmax(U h + b2)
        grad J wrt Wh, We, b1, U, b2, e, h0
        """, dict(Wh=Wh, We=We, b1=b1, U=U, b2=b2, e=e, h0=h0, y=y), -np.log(y_hat @ y),
        dict(Wh=np.outer(da, h0), We=np.outer(da, e), b1=da, U=np.outer(dl, h), b2=dl, e=We.T @ da,
             h0=Wh.T @ da))


def test_cs224n_gru_step():
    """A gated recurrent unit (lecture notes on GRUs), as the notes write it:
    z = σ(Wz x + Uz h0), r = σ(Wr x + Ur h0), h̃ = tanh(Wh x + r ∘ Uh h0),
    h = z ∘ h0 + (1 - z) ∘ h̃, scored by gᵀ h. (r ∘ Uh h0 reads (r ∘ Uh) h0,
    which is r ∘ (Uh h0).)"""
    rng = np.random.default_rng(31)
    D, H = 3, 4
    args = {name: rng.normal(size=(H, D) if name[0] == "W" else (H, H)) / 2
            for name in ("Wz", "Uz", "Wr", "Ur", "Wh", "Uh")}
    args.update(x=rng.normal(size=D), h0=rng.normal(size=H), g=rng.normal(size=H))
    Wz, Uz, Wr, Ur, Wh, Uh, x, h0, g = args.values()
    z, r = sigmoid(Wz @ x + Uz @ h0), sigmoid(Wr @ x + Ur @ h0)
    hh = np.tanh(Wh @ x + r * (Uh @ h0))
    da_h = g * (1 - z) * (1 - hh * hh)
    da_z = g * (h0 - hh) * z * (1 - z)
    da_r = da_h * (Uh @ h0) * r * (1 - r)
    assert_model("""
        param Wz : R^(H x D)
        param Uz : R^(H x H)
        param Wr : R^(H x D)
        param Ur : R^(H x H)
        param Wh : R^(H x D)
        param Uh : R^(H x H)
        input x : R^D
        input h0 : R^H
        input g : R^H            # the upstream gradient of the new state
        z = σ(Wz x + Uz h0)
        r = σ(Wr x + Ur h0)
        hh = tanh(Wh x + r ∘ Uh h0)
        h = z ∘ h0 + (1 - z) ∘ hh
        L = g^T h
        grad L wrt Wz, Uz, Wr, Ur, Wh, Uh, x, h0
        """, args, g @ (z * h0 + (1 - z) * hh),
        dict(Wz=np.outer(da_z, x), Uz=np.outer(da_z, h0), Wr=np.outer(da_r, x), Ur=np.outer(da_r, h0),
             Wh=np.outer(da_h, x), Uh=np.outer(da_h * r, h0), x=Wz.T @ da_z + Wr.T @ da_r + Wh.T @ da_h,
             h0=g * z + Uz.T @ da_z + Ur.T @ da_r + Uh.T @ (da_h * r)))


@pytest.mark.parametrize("scores", [
    "K^T Q / sqrt(d)",
    "1/sqrt(d) (K^T Q)",
    "d^-0.5 K^T Q",
])
def test_cs224n_scaled_dot_product_attention(scores):
    """Attention (lecture on self-attention and transformers), queries and
    keys as columns: A = softmax(Kᵀ Q / √d) per query, out = V A;
    dS = A ∘ (dA - Σ_keys A ∘ dA), dQ = K dS / √d, dK = Q dSᵀ / √d."""
    rng = np.random.default_rng(32)
    d, T, M, dv = 4, 5, 3, 2
    K, Q, V, G = rng.normal(size=(d, T)), rng.normal(size=(d, M)), rng.normal(size=(dv, T)), rng.normal(size=(dv, M))
    A = softmax(K.T @ Q / np.sqrt(d))
    dA = V.T @ G
    dS = A * (dA - np.sum(A * dA, axis=0))
    assert_model(f"""
        param K : R^(d x T)
        param Q : R^(d x M)
        param V : R^(dv x T)
        input G : R^(dv x M)
        A = softmax({scores})
        L = sum(G ∘ (V A))
        grad L
        """, dict(K=K, Q=Q, V=V, G=G), np.sum(G * (V @ A)),
        dict(K=Q @ dS.T / np.sqrt(d), Q=K @ dS / np.sqrt(d), V=G @ A.T))


# ====================================================== The Matrix Cookbook

def test_cookbook_trace_of_A_X_B():
    """∂ tr(A X B) / ∂X = Aᵀ Bᵀ (derivatives of traces)."""
    rng = np.random.default_rng(33)
    A, X, B = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    assert_model("""
        const A : R^(p x n)
        param X : R^(n x m)
        const B : R^(m x p)
        t = tr(A X B)
        grad t
        """, dict(A=A, X=X, B=B), np.trace(A @ X @ B), dict(X=A.T @ B.T))


def test_cookbook_quadratic_form():
    """∂ xᵀ A x / ∂x = (A + Aᵀ) x, and ∂/∂A = x xᵀ (scalar forms)."""
    rng = np.random.default_rng(34)
    A, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    assert_model("""
        param A : R^(n x n)
        param x : R^n
        q = x^T A x
        grad q
        """, dict(A=A, x=x), x @ A @ x, dict(A=np.outer(x, x), x=(A + A.T) @ x))


def test_cookbook_log_determinant():
    """∂ log det(X) / ∂X = X⁻ᵀ (derivatives of a determinant)."""
    X = invertible(np.random.default_rng(35), 4)
    assert_model("""
        param X : R^(n x n)
        l = logdet(X)
        grad l
        """, dict(X=X), np.log(np.linalg.det(X)), dict(X=np.linalg.inv(X).T))


def test_cookbook_determinant():
    """∂ det(X) / ∂X = det(X) X⁻ᵀ."""
    X = invertible(np.random.default_rng(36), 3)
    det = np.linalg.det(X)
    assert_model("""
        param X : R^(n x n)
        v = det(X)
        grad v
        """, dict(X=X), det, dict(X=det * np.linalg.inv(X).T))


def test_cookbook_trace_of_inverse_times_A():
    """∂ tr(X⁻¹ A) / ∂X = -(X⁻¹ A X⁻¹)ᵀ (derivatives of an inverse)."""
    rng = np.random.default_rng(37)
    X, A = invertible(rng, 4), rng.normal(size=(4, 4))
    Xi = np.linalg.inv(X)
    assert_model("""
        param X : R^(n x n)
        const A : R^(n x n)
        t = tr(X^-1 A)
        grad t
        """, dict(X=X, A=A), np.trace(Xi @ A), dict(X=-(Xi @ A @ Xi).T))


def test_cookbook_trace_of_A_inverse_B():
    """∂ tr(A X⁻¹ B) / ∂X = -(X⁻¹ B A X⁻¹)ᵀ, with A and B not square."""
    rng = np.random.default_rng(51)
    A, X, B = rng.normal(size=(3, 4)), invertible(rng, 4), rng.normal(size=(4, 3))
    Xi = np.linalg.inv(X)
    assert_model("""
        const A : R^(m x n)
        param X : R^(n x n)
        const B : R^(n x m)
        t = tr(A X^-1 B)
        grad t
        """, dict(A=A, X=X, B=B), np.trace(A @ Xi @ B), dict(X=-(Xi @ B @ A @ Xi).T))


def test_cookbook_trace():
    """∂ tr(X) / ∂X = I, and ∂ tr(A X) / ∂X = Aᵀ."""
    rng = np.random.default_rng(52)
    X, A = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    assert_model("""
        param X : R^(n x n)
        const A : R^(n x n)
        t = tr(X) + tr(A X)
        grad t
        """, dict(X=X, A=A), np.trace(X) + np.trace(A @ X), dict(X=np.eye(4) + A.T))


def test_cookbook_bilinear_form():
    """∂ aᵀ X b / ∂X = a bᵀ, and ∂ aᵀ Xᵀ b / ∂X = b aᵀ."""
    rng = np.random.default_rng(38)
    a, X, b, c = rng.normal(size=3), rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    assert_model("""
        input a : R^n
        param X : R^(n x m)
        input b : R^m
        input c : R^n
        v = a^T X b + b^T X^T c
        grad v wrt X
        """, dict(a=a, X=X, b=b, c=c), a @ X @ b + b @ X.T @ c, dict(X=np.outer(a, b) + np.outer(c, b)))


def test_cookbook_bilinear_form_of_inverse():
    """∂ aᵀ X⁻¹ b / ∂X = -X⁻ᵀ a bᵀ X⁻ᵀ."""
    rng = np.random.default_rng(39)
    X, a, b = invertible(rng, 4), rng.normal(size=4), rng.normal(size=4)
    XiT = np.linalg.inv(X).T
    assert_model("""
        param X : R^(n x n)
        input a : R^n
        input b : R^n
        v = a^T X^-1 b
        grad v wrt X
        """, dict(X=X, a=a, b=b), a @ np.linalg.solve(X, b), dict(X=-XiT @ np.outer(a, b) @ XiT))


def test_cookbook_trace_of_Xt_A_X():
    """∂ tr(Xᵀ A X) / ∂X = A X + Aᵀ X, and ∂/∂A = X Xᵀ."""
    rng = np.random.default_rng(40)
    A, X = rng.normal(size=(4, 4)), rng.normal(size=(4, 3))
    assert_model("""
        param A : R^(n x n)
        param X : R^(n x m)
        t = tr(X^T A X)
        grad t
        """, dict(A=A, X=X), np.trace(X.T @ A @ X), dict(A=X @ X.T, X=A @ X + A.T @ X))


def test_cookbook_trace_of_X_B_Xt():
    """∂ tr(X B Xᵀ) / ∂X = X Bᵀ + X B."""
    rng = np.random.default_rng(41)
    X, B = rng.normal(size=(3, 5)), rng.normal(size=(5, 5))
    assert_model("""
        param X : R^(n x m)
        const B : R^(m x m)
        t = tr(X B X^T)
        grad t
        """, dict(X=X, B=B), np.trace(X @ B @ X.T), dict(X=X @ B.T + X @ B))


def test_cookbook_trace_of_square():
    """∂ tr(X²) / ∂X = 2 Xᵀ."""
    X = np.random.default_rng(42).normal(size=(4, 4))
    assert_model("""
        param X : R^(n x n)
        t = tr(X X)
        grad t
        """, dict(X=X), np.trace(X @ X), dict(X=2 * X.T))


def test_cookbook_bt_Xt_X_c():
    """∂ bᵀ Xᵀ X c / ∂X = X (b cᵀ + c bᵀ)."""
    rng = np.random.default_rng(43)
    X, b, c = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)
    assert_model("""
        param X : R^(n x m)
        input b : R^m
        input c : R^m
        v = b^T X^T X c
        grad v wrt X
        """, dict(X=X, b=b, c=c), b @ X.T @ X @ c, dict(X=X @ (np.outer(b, c) + np.outer(c, b))))


def test_cookbook_weighted_quadratic_of_affine_map():
    """∂ (X b + c)ᵀ D (X b + c) / ∂X = (D + Dᵀ)(X b + c) bᵀ."""
    rng = np.random.default_rng(44)
    X, b, c, D = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=4), rng.normal(size=(4, 4))
    r = X @ b + c
    assert_model("""
        param X : R^(n x m)
        input b : R^m
        input c : R^n
        const D : R^(n x n)
        r = X b + c
        v = r^T D r
        grad v wrt X
        """, dict(X=X, b=b, c=c, D=D), r @ D @ r, dict(X=np.outer((D + D.T) @ r, b)))


def test_cookbook_least_squares_residual():
    """∂ ||A x - b||² : 2 Aᵀ (A x - b) by x, 2 (A x - b) xᵀ by A,
    -2 (A x - b) by b."""
    rng = np.random.default_rng(45)
    A, x, b = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5)
    r = A @ x - b
    assert_model("""
        param A : R^(m x n)
        param x : R^n
        param b : R^m
        f = ||A x - b||^2
        grad f
        """, dict(A=A, x=x, b=b), r @ r, dict(A=2 * np.outer(r, x), x=2 * A.T @ r, b=-2 * r))


def test_cookbook_euclidean_norm():
    """∂ ||x - a||₂ / ∂x = (x - a) / ||x - a||₂ (derivatives of vector norms)."""
    rng = np.random.default_rng(46)
    x, a = rng.normal(size=5), rng.normal(size=5)
    length = np.sqrt(np.sum((x - a) ** 2))
    assert_model("""
        param x : R^n
        input a : R^n
        f = ||x - a||
        grad f
        """, dict(x=x, a=a), length, dict(x=(x - a) / length))


def test_cookbook_frobenius_norm_squared():
    """∂ ||X||²_F / ∂X = 2 X (derivatives of matrix norms)."""
    X = np.random.default_rng(47).normal(size=(3, 5))
    assert_model("""
        param X : R^(n x m)
        f = ||X||^2
        grad f
        """, dict(X=X), np.sum(X * X), dict(X=2 * X))


@pytest.mark.parametrize("quadratic", [
    "1/2 (x - μ)^T Σ^-1 (x - μ)",
    "(1/2) ((x - μ)^T inv(Σ) (x - μ))",
    "(x - μ)^T Σ^-1 (x - μ) / 2",
])
def test_cookbook_gaussian_negative_log_likelihood(quadratic):
    """The Gaussian's -log p up to a constant, ½ log det Σ + ½ (x - μ)ᵀ Σ⁻¹ (x - μ):
    ∂/∂μ = -Σ⁻¹ (x - μ), ∂/∂Σ = ½ (Σ⁻ᵀ - Σ⁻ᵀ (x - μ)(x - μ)ᵀ Σ⁻ᵀ)."""
    rng = np.random.default_rng(48)
    Sigma, mu, x = spd(rng, 3), rng.normal(size=3), rng.normal(size=3)
    Si = np.linalg.inv(Sigma)
    r = x - mu
    assert_model(f"""
        param μ : R^n
        param Σ : R^(n x n)
        input x : R^n
        J = 1/2 logdet(Σ) + {quadratic}
        grad J
        """, {"μ": mu, "Σ": Sigma, "x": x}, 0.5 * np.log(np.linalg.det(Sigma)) + 0.5 * r @ Si @ r,
        {"μ": -Si @ r, "Σ": 0.5 * (Si.T - Si.T @ np.outer(r, r) @ Si.T)})


def test_cookbook_mahalanobis_trace_over_a_batch():
    """tr(Dᵀ Σ⁻¹ D), the squared Mahalanobis lengths of the columns of D
    summed: ∂/∂D = (Σ⁻¹ + Σ⁻ᵀ) D, ∂/∂Σ = -Σ⁻ᵀ D Dᵀ Σ⁻ᵀ."""
    rng = np.random.default_rng(49)
    D, Sigma = rng.normal(size=(3, 5)), invertible(rng, 3)
    Si = np.linalg.inv(Sigma)
    assert_model("""
        param D : R^(d x N)
        param Sigma : R^(d x d)
        t = tr(D^T Sigma^-1 D)
        grad t
        """, dict(D=D, Sigma=Sigma), np.sum(D * (Si @ D)), dict(D=(Si + Si.T) @ D, Sigma=-Si.T @ D @ D.T @ Si.T))
