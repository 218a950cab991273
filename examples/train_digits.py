"""Train the two-layer network of examples/mlp.sg on scikit-learn's 8x8
digits (1,797 images bundled with scikit-learn, no download), in
mini-batches, with the gradients symgrad compiles and an optimizer of
symgrad.optim. With --labels ids it trains examples/two_layer_labels.sg,
the same network given the digits' integer labels instead of one-hot
columns.

    python examples/train_digits.py                        # Adam
    python examples/train_digits.py --optimizer momentum --epochs 30
    python examples/train_digits.py --labels ids
    python examples/train_digits.py --plot docs/optimizers.png   # every optimizer

Needs the `examples` extra: pip install -e ".[examples]".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import symgrad
from symgrad import optim

# The one network, given its labels as one-hot columns Y or as integers y.
MODELS = {"onehot": Path(__file__).resolve().parent / "mlp.sg",
          "ids": Path(__file__).resolve().parent / "two_layer_labels.sg"}

# Each optimizer with the learning rate it trains this network well with
# (its other hyperparameters are the notes' defaults).
OPTIMIZERS = {
    "adam": (optim.Adam, 0.003),
    "sgd": (optim.SGD, 0.2),
    "momentum": (optim.Momentum, 0.02),
    "nesterov": (optim.Nesterov, 0.02),
    "adagrad": (optim.Adagrad, 0.05),
    "rmsprop": (optim.RMSprop, 0.002),
    "adadelta": (optim.AdaDelta, 1.0),
}


def digits(seed: int = 0, test_fraction: float = 0.2):
    """(X_train, y_train, X_test, y_test): pixels scaled to [0, 1], one
    example per column; a split stratified by class."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data / 16.0, data.target, test_size=test_fraction, random_state=seed, stratify=data.target)
    return X_train.T, y_train, X_test.T, y_test


def initial_params(inputs: int, hidden: int, classes: int, rng) -> dict:
    """He initialization for the ReLU layer, Xavier for the scores, zero biases."""
    return dict(W1=optim.he((hidden, inputs), rng), b1=np.zeros(hidden),
                W2=optim.xavier((classes, hidden), rng), b2=np.zeros(classes))


def predict(params: dict, X) -> np.ndarray:
    """The class of every column of X: the largest of the scores S of mlp.sg."""
    hidden = np.maximum(params["W1"] @ X + params["b1"][:, None], 0)
    return np.argmax(params["W2"] @ hidden + params["b2"][:, None], axis=0)


def bar(done: int, total: int, width: int = 20) -> str:
    filled = width * done // total
    return "[" + "#" * filled + "." * (width - filled) + "]"


def train(optimizer: str = "adam", *, epochs: int = 20, batch: int = 32, lr: float | None = None,
          hidden: int = 64, lam: float = 1e-4, seed: int = 0, labels: str = "onehot", data=None,
          out=sys.stdout) -> dict:
    """Train mlp.sg (labels "onehot") or two_layer_labels.sg (labels "ids")
    with one optimizer; print a line per epoch (and, on a terminal, a
    progress bar through the batches) to out. Returns the history: mean
    training loss and test accuracy per epoch, the seconds."""
    model = symgrad.load(str(MODELS[labels]))
    X_train, y_train, X_test, y_test = data if data is not None else digits(seed)
    classes = int(max(y_train.max(), y_test.max())) + 1
    Y_train = np.eye(classes)[:, y_train]
    rng = np.random.default_rng(seed)
    params = initial_params(X_train.shape[0], hidden, classes, rng)
    rule, default_lr = OPTIMIZERS[optimizer]
    opt = rule(lr=default_lr if lr is None else lr)
    live = out.isatty() if hasattr(out, "isatty") else False
    history = {"optimizer": optimizer, "loss": [], "test_accuracy": []}
    n = X_train.shape[1]
    starts = range(0, n, batch)
    began = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        losses = []
        for k, start in enumerate(starts, 1):
            columns = order[start:start + batch]
            targets = dict(Y=Y_train[:, columns]) if labels == "onehot" else dict(y=y_train[columns])
            J, grads = model.value_and_grad(**opt.lookahead(params), X=X_train[:, columns], **targets,
                                            lambda_=lam)
            params = opt.step(params, grads)
            losses.append(float(J))
            if live:
                print(f"\repoch {epoch:3d}/{epochs} {bar(k, len(starts))} loss {np.mean(losses):.4f}",
                      end="", file=out, flush=True)
        train_accuracy = np.mean(predict(params, X_train) == y_train)
        test_accuracy = np.mean(predict(params, X_test) == y_test)
        history["loss"].append(float(np.mean(losses)))
        history["test_accuracy"].append(float(test_accuracy))
        print(f"\repoch {epoch:3d}/{epochs} {bar(epoch, epochs)} loss {np.mean(losses):.4f}  "
              f"train {train_accuracy:6.1%}  test {test_accuracy:6.1%}", file=out, flush=True)
    history["seconds"] = time.perf_counter() - began
    history["params"] = params
    return history


def plot(histories: list[dict], path) -> None:
    """The loss curves of every optimizer side by side with their test
    accuracies, saved as an image."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for history in histories:
        epochs = range(1, len(history["loss"]) + 1)
        label = f"{history['optimizer']} ({history['test_accuracy'][-1]:.1%})"
        loss_axes.plot(epochs, history["loss"], label=label)
        accuracy_axes.plot(epochs, history["test_accuracy"], label=label)
    loss_axes.set(title="training loss (cross-entropy + L2)", xlabel="epoch", yscale="log")
    accuracy_axes.set(title="test accuracy", xlabel="epoch", ylim=(0.8, 1.0))
    accuracy_axes.legend(loc="lower right", fontsize="small")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle("examples/mlp.sg on the 8x8 digits, one optimizer of symgrad.optim per curve")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32, help="examples per mini-batch (default 32)")
    parser.add_argument("--lr", type=float, help="learning rate (default: one per optimizer)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units (default 64)")
    parser.add_argument("--lam", type=float, default=1e-4, help="L2 strength lambda (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labels", choices=MODELS, default="onehot",
                        help="one-hot columns (mlp.sg, the default) or integer ids (two_layer_labels.sg)")
    parser.add_argument("--plot", metavar="FILE.png", help="train with every optimizer and plot their curves")
    args = parser.parse_args(argv)
    settings = dict(epochs=args.epochs, batch=args.batch, lr=args.lr, hidden=args.hidden, lam=args.lam,
                    seed=args.seed, labels=args.labels)
    names = list(OPTIMIZERS) if args.plot else [args.optimizer]
    data = digits(args.seed)
    histories = []
    for name in names:
        print(f"== {name}")
        histories.append(train(name, data=data, **settings))
    for history in histories:
        print(f"{history['optimizer']:>9}: test accuracy {history['test_accuracy'][-1]:.1%} "
              f"in {history['seconds']:.1f} s")
    if args.plot:
        plot(histories, args.plot)
        print(f"saved {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
