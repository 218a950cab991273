"""examples/train_digits.py: a shortened training of examples/mlp.sg on the
8x8 digits reaches a safe bar, and so does one of the same network given
integer labels (examples/two_layer_labels.sg); its command line and plot
work."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from checking import imported

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"


def train_digits():
    return imported(SCRIPT)


def test_a_few_epochs_of_adam_classify_nine_test_digits_in_ten():
    history = train_digits().train("adam", epochs=5, out=io.StringIO())
    assert history["test_accuracy"][-1] >= 0.90
    assert history["loss"][-1] < history["loss"][0] / 2


def test_a_few_epochs_from_integer_labels_classify_nine_test_digits_in_ten():
    history = train_digits().train("adam", epochs=5, labels="ids", out=io.StringIO())
    assert history["test_accuracy"][-1] >= 0.90
    assert history["loss"][-1] < history["loss"][0] / 2


def test_integer_labels_train_the_network_as_one_hot_columns_do():
    """The two models are one loss, spelled two ways: from one seed, the same
    batches give the same steps, to rounding."""
    td = train_digits()
    data = td.digits()
    onehot, ids = (td.train("sgd", epochs=1, labels=labels, data=data, out=io.StringIO())
                   for labels in ("onehot", "ids"))
    np.testing.assert_allclose(ids["loss"], onehot["loss"], rtol=1e-9)
    for name, value in onehot["params"].items():
        np.testing.assert_allclose(ids["params"][name], value, rtol=1e-7, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adadelta"])
def test_other_optimizers_learn_too(optimizer):
    history = train_digits().train(optimizer, epochs=2, out=io.StringIO())
    assert history["test_accuracy"][-1] >= 0.80


def test_predictions_are_the_largest_scores_of_the_model():
    td = train_digits()
    params = td.initial_params(3, 4, 2, np.random.default_rng(0))
    X = np.random.default_rng(1).standard_normal((3, 5))
    predicted = td.predict(params, X)
    # a class's score, raised by its bias, wins every column
    params["b2"] = np.array([0.0, 1e6])
    assert predicted.shape == (5,) and set(td.predict(params, X)) == {1}


def test_the_command_line_prints_a_line_per_epoch_and_the_final_accuracy(capsys):
    assert train_digits().main(["--optimizer", "momentum", "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/2" in printed and "epoch   2/2" in printed
    assert "momentum: test accuracy" in printed


def test_the_command_line_takes_integer_labels(capsys):
    assert train_digits().main(["--labels", "ids", "--epochs", "1"]) == 0
    assert "adam: test accuracy" in capsys.readouterr().out


def test_the_plot_is_saved(tmp_path):
    pytest.importorskip("matplotlib")   # the `examples` extra, not a test dependency
    histories = [{"optimizer": name, "loss": [1.0, 0.5], "test_accuracy": [0.9, 0.95]} for name in ("sgd", "adam")]
    path = tmp_path / "curves.png"
    train_digits().plot(histories, path)
    assert path.read_bytes().startswith(b"\x89PNG")
