"""`estimate_memory` against the variables Keras creates and the outputs its layers return.

Weights, gradients and optimizer slots must equal the bytes of Keras' own
variables once built; activations the outputs of every layer call.
"""

import keras
import numpy as np
import pytest
from _keras_version import keras_at_least
from keras import layers

from keras_tdplus import estimate_memory
from keras_tdplus.cli._params import main as params_main

pytestmark = pytest.mark.backend("jax")


def _bytes(variables):
    return sum(
        int(np.prod(v.shape)) * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize
        if keras.backend.standardize_dtype(v.dtype) != "bfloat16"
        else int(np.prod(v.shape)) * 2
        for v in variables
    )


def _model(policy=None):
    inputs = keras.Input((6, 4), name="x")
    x = layers.LSTM(5, return_sequences=True, dtype=policy)(inputs)
    x = layers.BatchNormalization(dtype=policy)(x)
    frozen = layers.Dense(3, dtype=policy, name="frozen")
    frozen.trainable = False
    x = frozen(x)
    return keras.Model(inputs, layers.Dense(2, dtype=policy)(x))


_OPTIMIZERS = {
    "SGD": lambda: keras.optimizers.SGD(),
    "SGD-momentum": lambda: keras.optimizers.SGD(momentum=0.9),
    "Adam": lambda: keras.optimizers.Adam(),
    "Adam-amsgrad": lambda: keras.optimizers.Adam(amsgrad=True),
    "AdamW": lambda: keras.optimizers.AdamW(),
    "Adam-ema": lambda: keras.optimizers.Adam(use_ema=True),
    "Adam-accumulation": lambda: keras.optimizers.Adam(gradient_accumulation_steps=2),
    "Adam-schedule": lambda: keras.optimizers.Adam(
        keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    ),
    "RMSprop": lambda: keras.optimizers.RMSprop(),
    "RMSprop-momentum-centered": lambda: keras.optimizers.RMSprop(momentum=0.5, centered=True),
    "Nadam": lambda: keras.optimizers.Nadam(),
    "Adamax": lambda: keras.optimizers.Adamax(),
    "Adagrad": lambda: keras.optimizers.Adagrad(),
    "Adadelta": lambda: keras.optimizers.Adadelta(),
    "Ftrl": lambda: keras.optimizers.Ftrl(),
    "Lion": lambda: keras.optimizers.Lion(),
    "LossScaleOptimizer": lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()),
}


@pytest.mark.parametrize("name", sorted(_OPTIMIZERS))
def test_optimizer_bytes_equal_the_variables_keras_builds(name):
    model = _model()
    memory = estimate_memory(model, batch_size=4, optimizer=_OPTIMIZERS[name]())
    built = _OPTIMIZERS[name]()
    built.build(model.trainable_variables)
    assert memory.optimizer == _bytes(built.variables)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_an_optimizer_named_counts_as_keras_default_one(name):
    model = _model()
    optimizer = keras.optimizers.get(name)
    optimizer.build(model.trainable_variables)
    assert estimate_memory(model, optimizer=name).optimizer == _bytes(optimizer.variables)


@pytest.mark.parametrize("policy", [None, "mixed_float16", "mixed_bfloat16", "float64"])
def test_weights_and_gradients_equal_the_models_variables(policy):
    model = _model(policy)
    memory = estimate_memory(model, batch_size=3)
    assert memory.weights == _bytes(model.weights)
    assert memory.gradients == _bytes(model.trainable_weights)
    adam = keras.optimizers.Adam()
    adam.build(model.trainable_variables)
    assert memory.optimizer == _bytes(adam.variables)


def test_activations_are_every_layer_output_at_the_batch():
    model = _model()
    memory = estimate_memory(model, batch_size=7)
    outputs = sum(int(np.prod(layer.output.shape[1:])) for layer in model.layers[1:])
    assert memory.activations == 7 * outputs * 4
    assert memory.inputs == 7 * 6 * 4 * 4
    assert memory.total == sum(
        (memory.weights, memory.gradients, memory.optimizer, memory.activations, memory.inputs)
    )


def test_mixed_precision_halves_activations_not_weights():
    full, mixed = estimate_memory(_model(), 8), estimate_memory(_model("mixed_float16"), 8)
    assert mixed.weights == full.weights and mixed.optimizer == full.optimizer
    assert mixed.activations * 2 == full.activations


def test_inference_holds_no_gradients_nor_slots():
    memory = estimate_memory(_model(), batch_size=2, optimizer=None)
    assert (memory.gradients, memory.optimizer, memory.optimizer_name) == (0, 0, None)


def test_an_unknown_optimizer_or_axis_is_a_clear_error():
    with pytest.raises(ValueError, match=r"one of 'sgd', 'adam'.* Received: optimizer='lamb2'"):
        estimate_memory(_model(), optimizer="lamb2")
    inputs = keras.Input((None, 4), name="frames")
    dynamic = keras.Model(inputs, layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"input 'frames' has an unknown size on axis 1"):
        estimate_memory(dynamic)
    assert estimate_memory(dynamic, input_shape=(None, 10, 4)).activations == 10 * 2 * 4


def test_cli_optimizer_none_is_inference(tmp_path, capsys):
    path = tmp_path / "m.keras"
    _model().save(path)
    assert params_main([str(path), "--memory", "--optimizer", "none", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert " Gradients:" in out and " Optimizer (none):" in out


def test_a_keras_op_in_the_config_counts_in_its_own_dtype():
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, layers.LSTM(6)(layers.Masking(0.0)(inputs)))
    # NotEqual and Any, the mask ops Keras up to 3.15 stores in the config, give booleans
    # (1 byte); Keras 3.16 stores no mask ops.
    recorded = {type(op).__name__ for op in model.operations}
    assert ({"NotEqual", "Any"} <= recorded) == (not keras_at_least(3, 16))
    masking, not_equal, any_step, lstm = 5 * 3 * 4, 5 * 3 * 1, 5 * 1, 6 * 4
    mask_ops = not_equal + any_step if "NotEqual" in recorded else 0
    assert estimate_memory(model).activations == masking + mask_ops + lstm


def test_the_batch_defaults_to_the_models_own():
    inputs = keras.Input((4,), batch_size=2)
    memory = estimate_memory(keras.Model(inputs, layers.Dense(3)(inputs)))
    assert (memory.batch_size, memory.activations, memory.inputs) == (2, 2 * 3 * 4, 2 * 4 * 4)
