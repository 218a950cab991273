"""The lecture's window classifier for named entities, trained with the
max-margin loss of examples/window_ner.sg: a window of five words whose
center is a location (true) should score at least 1 above the same window
with a random word in its center (corrupt), J = max(0, 1 + s_c - s).

The corpus is made up here: sentences from a few templates, each with a
city in a typical context ("museums in paris are amazing"). The model takes
the windows as word ids and looks their word vectors up in L itself
(x = vec(L[:, w])), so the word vectors are trained too with no code here:
symgrad's ∂J/∂L already holds each word's share of both windows. The
training loop takes it in its sparse form (value_and_grad_sparse: the ids of
the windows' words and their summed columns, a SparseGrad), which SGD
subtracts from those columns of L in place: no array of L's size a step.

    python examples/window_ner.py
    python examples/window_ner.py --epochs 30 --seed 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import symgrad
from symgrad import optim

MODEL = Path(__file__).resolve().parent / "window_ner.sg"

LOCATIONS = ["paris", "london", "tokyo", "berlin", "madrid", "rome", "seoul", "cairo", "lima", "oslo",
             "vienna", "dublin"]
TEMPLATES = ["museums in {} are amazing", "we flew to {} last spring", "she grew up in {} and left",
             "the weather in {} is mild", "he moved from {} to work", "flights to {} were cheap",
             "they live near {} with friends", "the streets of {} are busy"]
OTHER_WORDS = ["dog", "blue", "quickly", "table", "sing", "happy", "river", "seven", "cold", "book",
               "green", "run", "paper", "slowly", "chair", "music"]
PAD = "<s>"
HALF = 2   # words on each side of the center: windows of five


def corpus(rng, held_out: float = 0.25):
    """(training, held-out) sentences, as lists of words, and the vocabulary:
    every template with every city, split at random."""
    sentences = [template.format(city).split() for template in TEMPLATES for city in LOCATIONS]
    order = rng.permutation(len(sentences))
    cut = int(len(sentences) * (1 - held_out))
    vocabulary = sorted({word for s in sentences for word in s} | set(OTHER_WORDS) | {PAD})
    return [sentences[i] for i in order[:cut]], [sentences[i] for i in order[cut:]], vocabulary


def true_windows(sentences, index: dict) -> np.ndarray:
    """The window of word ids around each sentence's city (padded with <s>)."""
    windows = []
    for words in sentences:
        center = next(k for k, word in enumerate(words) if word in LOCATIONS)
        padded = [PAD] * HALF + words + [PAD] * HALF
        windows.append([index[word] for word in padded[center:center + 2 * HALF + 1]])
    return np.array(windows)


def corrupt(windows: np.ndarray, non_locations: np.ndarray, rng) -> np.ndarray:
    """The same windows with a random word that is not a city in the center."""
    corrupted = windows.copy()
    corrupted[:, HALF] = rng.choice(non_locations, len(windows))
    return corrupted


def ranked_first(model, params: dict, windows: np.ndarray, corrupted: np.ndarray) -> np.ndarray:
    """Whether each true window scores above its corrupt twin: J < 1 exactly
    when s > s_c, since J = max(0, 1 + s_c - s)."""
    return np.array([model.evaluate(**params, w=true, wc=bad) < 1 for true, bad in zip(windows, corrupted)])


def train(*, epochs: int = 10, dim: int = 8, hidden: int = 10, lr: float = 0.1, seed: int = 0,
          out=sys.stdout) -> dict:
    """Train the word vectors L and W, b, u with SGD, one (true, corrupt) pair
    at a time; print the mean loss and the held-out accuracy per epoch.
    Held-out accuracy: the fraction of held-out windows that score above the
    same window with a random word that is not a city in the center (chance
    is 50%)."""
    model = symgrad.load(str(MODEL))
    rng = np.random.default_rng(seed)
    training, held_out, vocabulary = corpus(rng)
    index = {word: k for k, word in enumerate(vocabulary)}
    non_locations = np.array([index[w] for w in vocabulary if w not in LOCATIONS and w != PAD])
    train_windows, test_windows = true_windows(training, index), true_windows(held_out, index)
    test_corrupt = corrupt(test_windows, non_locations, rng)
    m = (2 * HALF + 1) * dim
    params = dict(L=0.1 * rng.standard_normal((dim, len(vocabulary))), W=optim.xavier((hidden, m), rng),
                  b=np.zeros(hidden), u=optim.xavier((1, hidden), rng)[0])
    opt = optim.SGD(lr=lr)
    history = {"loss": [], "accuracy": []}
    for epoch in range(1, epochs + 1):
        windows = train_windows[rng.permutation(len(train_windows))]
        corrupted = corrupt(windows, non_locations, rng)
        losses = []
        for true, bad in zip(windows, corrupted):
            J, grads = model.value_and_grad_sparse(**params, w=true, wc=bad)
            params = opt.step(params, grads)
            losses.append(float(J))
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(float(np.mean(ranked_first(model, params, test_windows, test_corrupt))))
        print(f"epoch {epoch:3d}/{epochs}  loss {history['loss'][-1]:.4f}  "
              f"held-out accuracy {history['accuracy'][-1]:6.1%}", file=out, flush=True)
    history["params"], history["vocabulary"] = params, vocabulary
    return history


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--dim", type=int, default=8, help="word vector size (default 8)")
    parser.add_argument("--hidden", type=int, default=10, help="hidden units (default 10)")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    history = train(epochs=args.epochs, dim=args.dim, hidden=args.hidden, lr=args.lr, seed=args.seed)
    print(f"loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}; "
          f"held-out accuracy {history['accuracy'][-1]:.1%} (chance: 50%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
