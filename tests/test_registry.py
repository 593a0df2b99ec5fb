"""The calculator's registry: keyed by class, one registration per class, and the typed
arguments its messages keep, which the command line says as its options."""

import keras
import pytest
from keras import layers

from keras_tdplus import count_flops, count_params
from keras_tdplus.cli import main as cli_main
from keras_tdplus.params._registry import (
    REGISTRY,
    ApplicationClass,
    flops_formula,
    weights_formula,
)

pytestmark = pytest.mark.backend_independent


@keras.saving.register_keras_serializable(package="test_registry")
class Dense(layers.Layer):
    """A user's layer that shares its class name with Keras' Dense, and nothing else."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), name="scale")

    def call(self, x):
        return x * self.scale


class WideDense(layers.Dense):
    """A subclass of Dense: its weights may be anything its own build() makes."""

    def build(self, input_shape):
        super().build(input_shape)
        self.extra = self.add_weight(shape=(7,), name="extra")


def test_every_key_is_a_class_never_a_name():
    assert REGISTRY
    for key in REGISTRY:
        assert isinstance(key, (type, ApplicationClass)), key
        if isinstance(key, type):
            assert issubclass(key, layers.Layer), key


def test_a_class_named_like_a_keras_class_does_not_take_its_formula():
    assert count_params(layers.Dense(3), (None, 4)) == 15
    for layer in (Dense(name="mine"), WideDense(3, name="wide")):
        with pytest.raises(ValueError, match=r"has no parameter formula in keras_tdplus"):
            count_params(layer, (None, 4))
    assert count_params(WideDense(3), (None, 4), allow_build=True) == 15 + 7
    assert count_params(Dense(), (None, 4), allow_build=True) == 1


def test_a_second_registration_of_one_class_is_an_error():
    entry = REGISTRY[layers.Conv2D]
    before = (entry.weights, entry.flops)
    with pytest.raises(RuntimeError, match=r"Two weights formulas for layer class 'Conv2D'"):
        weights_formula(layers.Conv2D)(lambda layer, shape, count: None)
    with pytest.raises(RuntimeError, match=r"Two FLOPs formulas for layer class 'Conv2D'"):
        flops_formula(layers.Conv2D)(lambda layer, shape, output, count: None)
    assert (entry.weights, entry.flops) == before
    assert count_flops(layers.Conv2D(2, 3), (None, 5, 5, 1)) == 2 * 9 * 9 * 2


def test_a_class_this_keras_lacks_is_skipped():
    assert weights_formula(None)(len) is len
    assert None not in REGISTRY


def _cli_error(argv, capsys):
    assert cli_main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    return captured.err


def test_the_cli_says_each_argument_as_its_option(capsys):
    err = _cli_error(["params", "LSTM", "--units", "5", "--input-shape", "3"], capsys)
    assert "Received: --input-shape 3;" in err and "Fix: --input-shape 1,3  # one time step" in err
    err = _cli_error(["params", "Layer", "--input-shape", "3"], capsys)
    assert "Fix: pass --allow-build to count it" in err and "allow_build=True" not in err


def test_the_cli_leaves_text_that_only_looks_like_an_argument(tmp_path, capsys):
    # The CLI says the arguments the message holds as data; a layer whose name reads like
    # one keeps its name.
    name = "input_shape=(None, 9)"
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, Dense(name=name)(inputs), name="m")
    path = tmp_path / "named.keras"
    model.save(path)
    err = _cli_error(["params", str(path)], capsys)
    assert f"'{name}'" in err and "--input-shape 9" not in err
    assert "Fix: pass --allow-build" in err
