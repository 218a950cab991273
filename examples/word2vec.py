"""Skip-gram word2vec, as CS224N's assignment writes it, trained with the
gradients symgrad derives from examples/word2vec_naive.sg (the naive-softmax
loss) or examples/word2vec_negative.sg (negative sampling): for every word
of the corpus (the center c) and every word within two places of it (an
outside word o), one SGD step on the loss of the pair. The model takes the
word ids and looks up the center's vector in Vc and the outside vectors in U
itself; the gradients come back as whole d x V matrices, zero in the columns
of the words the pair does not use.

The corpus is made up here: short sentences from a few templates, each with
a slot that one of two words fills, so that the two words of each pair (cat
and dog, apple and mango, ...) are seen in the same contexts and nowhere
else. After training, each should be the other's nearest neighbour (cosine
of the center vectors).

    python examples/word2vec.py
    python examples/word2vec.py --loss naive --epochs 10 --seed 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import symgrad
from symgrad import optim

MODELS = {"negative": Path(__file__).resolve().parent / "word2vec_negative.sg",
          "naive": Path(__file__).resolve().parent / "word2vec_naive.sg"}

# Each pair of words fills the slot of its templates; nothing else uses them.
TEMPLATES = {
    ("cat", "dog"): ["the {} chased a mouse", "my {} sleeps on the sofa", "we fed the {} at night"],
    ("apple", "mango"): ["she ate a ripe {} today", "the {} tastes sweet", "we picked a {} from the tree"],
    ("car", "truck"): ["he drove the {} to town", "the {} needs new tires", "we parked the {} outside"],
    ("paris", "rome"): ["we flew to {} in spring", "the streets of {} are busy", "they live in {} now"],
}
PLANTED = ("cat", "dog")   # the pair the test looks at
WINDOW = 2                 # outside words: up to two places on each side of the center


def corpus(rng, sentences: int = 120) -> tuple[list[list[str]], list[str]]:
    """Sentences, as lists of words, each a random template of a random pair
    with one of the pair's two words in its slot; and the vocabulary."""
    pairs = list(TEMPLATES)
    made = []
    for _ in range(sentences):
        pair = pairs[rng.integers(len(pairs))]
        template = TEMPLATES[pair][rng.integers(len(TEMPLATES[pair]))]
        made.append(template.format(pair[rng.integers(2)]).split())
    return made, sorted({word for sentence in made for word in sentence})


def skip_grams(sentences, index: dict) -> np.ndarray:
    """Every (center, outside) pair of word ids within WINDOW places."""
    pairs = []
    for sentence in sentences:
        ids = [index[word] for word in sentence]
        for position, center in enumerate(ids):
            for near in range(max(0, position - WINDOW), min(len(ids), position + WINDOW + 1)):
                if near != position:
                    pairs.append((center, ids[near]))
    return np.array(pairs)


def noise_distribution(pairs: np.ndarray, words: int) -> np.ndarray:
    """Negative samples are drawn from the unigram counts to the power 3/4,
    as in the word2vec paper."""
    weights = np.bincount(pairs[:, 1], minlength=words) ** 0.75
    return weights / weights.sum()


def train(loss: str = "negative", *, epochs: int = 5, dim: int = 10, lr: float = 0.1, negatives: int = 5,
          seed: int = 0, out=sys.stdout) -> dict:
    """Train the center vectors Vc and outside vectors U with SGD, one pair
    at a time; print the mean loss of each epoch. Returns the history: the
    losses, the parameters and the vocabulary."""
    model = symgrad.load(str(MODELS[loss]))
    rng = np.random.default_rng(seed)
    sentences, vocabulary = corpus(rng)
    pairs = skip_grams(sentences, {word: k for k, word in enumerate(vocabulary)})
    noise = noise_distribution(pairs, len(vocabulary))
    params = {name: 0.1 * rng.standard_normal((dim, len(vocabulary))) for name in ("Vc", "U")}
    opt = optim.SGD(lr=lr)
    history = {"loss": []}
    for epoch in range(1, epochs + 1):
        losses = []
        drawn = rng.choice(len(vocabulary), (len(pairs), negatives), p=noise)
        for (c, o), k in zip(pairs[rng.permutation(len(pairs))], drawn):
            samples = {"k": k} if loss == "negative" else {}
            J, grads = model.value_and_grad(**params, c=c, o=o, **samples)
            params = opt.step(params, grads)
            losses.append(float(J))
        history["loss"].append(float(np.mean(losses)))
        print(f"epoch {epoch:3d}/{epochs}  loss {history['loss'][-1]:.4f}", file=out, flush=True)
    history["params"], history["vocabulary"] = params, vocabulary
    return history


def neighbours(history: dict, word: str, count: int = 3) -> list[str]:
    """The count words whose center vectors are nearest to word's by cosine."""
    vocabulary, Vc = history["vocabulary"], history["params"]["Vc"]
    unit = Vc / np.linalg.norm(Vc, axis=0)
    cosines = unit.T @ unit[:, vocabulary.index(word)]
    order = [k for k in np.argsort(-cosines) if vocabulary[k] != word]
    return [vocabulary[k] for k in order[:count]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loss", choices=MODELS, default="negative")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=10, help="word vector size (default 10)")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    parser.add_argument("--negatives", type=int, default=5, help="negative samples per pair (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    history = train(args.loss, epochs=args.epochs, dim=args.dim, lr=args.lr, negatives=args.negatives,
                    seed=args.seed)
    for pair in TEMPLATES:
        for word in pair:
            print(f"nearest to {word:>6}: {', '.join(neighbours(history, word))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
