"""Plain NumPy building blocks for the outside-reference tests
(tests/test_reference_models.py), written by hand from their textbook
definitions. Nothing here imports symgrad or reads its output: the tests
compare symgrad's generated code with these, so they must stay independent.

Examples are columns, as in the `.sg` language: softmax and its relatives
act on each column of a matrix (axis 0), or on a 1-D vector as a whole.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    """σ(z) = 1 / (1 + e^-z), evaluated without overflow on either side:
    e^-z for z >= 0, and e^z / (1 + e^z) for z < 0."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logsumexp(S):
    """log Σ_i e^(S_i) of each column, shifted by the column's max so that
    no exponential overflows: a row (1, N) for a matrix, a float for a
    vector."""
    S = np.asarray(S, dtype=np.float64)
    top = S.max(axis=0, keepdims=True)
    value = top + np.log(np.exp(S - top).sum(axis=0, keepdims=True))
    return value if S.ndim == 2 else float(value[0])


def log_softmax(S):
    """log softmax of each column: S - logsumexp(S)."""
    return np.asarray(S, dtype=np.float64) - logsumexp(S)


def softmax(S):
    """softmax of each column, e^(S_i - max) / Σ_j e^(S_j - max)."""
    S = np.asarray(S, dtype=np.float64)
    e = np.exp(S - S.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def one_hot(labels, classes: int):
    """The classes x N indicator matrix of integer labels (one column per
    label); a 1-D vector for a single label."""
    labels = np.asarray(labels)
    if labels.ndim == 0:
        return np.eye(classes)[labels]
    return np.eye(classes)[:, labels]
