"""The models whose FLOPs are checked against torch's `FlopCounterMode`, by family.

`FLOPS_CASES[family][case]` is `make()`, which returns `(model, input_shapes)`:
a Keras model with a fixed batch of 2 and the shapes of the inputs to run it
on. `tests/test_flops_reference.py` runs each on the torch backend under
`FlopCounterMode` and checks it against `tests/golden/flops_reference.json`,
which `tests/golden/make_flops_reference.py` writes; `tests/test_flops.py`
counts each from its config, on jax, against that file. Every layer class of
`tests/_layer_cases.py` is a case of the `layers` family.

`reference_flops` is the reference: torch's counter around one forward pass
of inference (`training=False`: a random augmentation layer transforms its
input only in training, and `model.predict` runs it so), with two things
Keras' torch backend does that are not the model's arithmetic taken out:
- its recurrent loop (`unroll=False`) runs step 0 once more to learn the output
  shape: the reference runs a copy with `unroll=True`, which has no such call;
- `scaled_dot_product_attention` runs as the CPU flash kernel, which torch's
  table does not count: the reference counts it with torch's own formula.
"""

import keras
import numpy as np
from _layer_cases import LAYER_CASES
from keras import layers

import keras_tdplus as tdp

__all__ = ["APPLICATION_SIZES", "FLOPS_CASES", "NOT_ON_TORCH", "input_data", "reference_flops"]

BATCH = 2

# Layer classes the torch reference cannot run, and why.
NOT_ON_TORCH = {
    "Hashing": "needs TensorFlow",
    "HashedCrossing": "needs TensorFlow",
    "IntegerLookup": "needs TensorFlow",
    "StringLookup": "needs TensorFlow",
    "TextVectorization": "needs TensorFlow",
    "NASNetMobile": "Keras refuses to build it on the torch backend",
    "InputLayer": "every case has one",
    "StackedRNNCells": "Keras runs the cells once more before the loop: see test_flops_reference",
    "MelSpectrogram": "no FLOPs formula: its FFT is not a counted product",
    "STFTSpectrogram": "no FLOPs formula: its FFT is not a counted product",
}

# The smallest input each keras.applications model takes (32 unless said).
APPLICATION_SIZES = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}


def _model(layer, shapes, **kwargs):
    shapes = shapes if isinstance(shapes, list) else [shapes]
    shapes = [(BATCH, *s[1:]) for s in shapes]
    inputs = [keras.Input(s[1:], batch_size=BATCH) for s in shapes]
    if type(layer).__name__ in ("MultiHeadAttention", "GroupedQueryAttention"):
        key = inputs[2] if len(inputs) > 2 else None
        value = inputs[1] if len(inputs) > 1 else inputs[0]
        output = layer(inputs[0], value, key=key, **kwargs)
    else:
        output = layer(inputs if len(inputs) > 1 else inputs[0], **kwargs)
    if any(output is x for x in inputs):  # an augmentation layer outside training: identity
        output = layers.Rescaling(1.0)(output)
    return keras.Model(inputs, output), shapes


def _layer_family():
    cases = {}
    for name, entries in sorted(LAYER_CASES.items()):
        if name in NOT_ON_TORCH:
            continue
        for i, (make, shape) in enumerate(entries):
            if name == "RNN" and isinstance(make().cell, layers.StackedRNNCells):
                continue  # see NOT_ON_TORCH["StackedRNNCells"]
            if name.endswith("Cell"):  # a cell runs on each step of an RNN
                make, shape = _in_rnn(make), (shape[0], 4, *shape[1:])
            cases[f"{name}-{i}"] = lambda make=make, shape=shape: _model(make(), shape)
    return cases


def _in_rnn(make):
    return lambda: layers.RNN(make())


def _sequential(stack, shape):
    return keras.Sequential([keras.Input(shape, batch_size=BATCH), *stack]), [(BATCH, *shape)]


def _echo(name):
    def make():
        model = tdp.echo.get_experiment(name).build_model()
        shape = (BATCH, *model.input_shape[1:])
        config = _with_batch(model.get_config(), BATCH)
        return model.__class__.from_config(config), [shape]

    return make


def _with_batch(config, batch):
    """A model config whose inputs fix the batch (the echo models leave it free)."""
    if isinstance(config, dict):
        out = {k: _with_batch(v, batch) for k, v in config.items()}
        if "batch_shape" in out and isinstance(out["batch_shape"], (list, tuple)):
            out["batch_shape"] = [batch, *out["batch_shape"][1:]]
        return out
    if isinstance(config, list):
        return [_with_batch(v, batch) for v in config]
    return config


def _functional_matmul():
    a = keras.Input((5, 3), batch_size=BATCH)
    b = keras.Input((3, 4), batch_size=BATCH)
    return keras.Model([a, b], keras.ops.matmul(a, b)), [(BATCH, 5, 3), (BATCH, 3, 4)]


def _shared_twice():
    dense = layers.Dense(4, name="shared")
    a = keras.Input((5, 3), batch_size=BATCH)
    b = keras.Input((7, 3), batch_size=BATCH)
    outputs = layers.Concatenate(axis=1)([dense(a), dense(b)])
    return keras.Model([a, b], outputs), [(BATCH, 5, 3), (BATCH, 7, 3)]


def _nested():
    inner = keras.Sequential([keras.Input((6,)), layers.Dense(5), layers.Dense(2)], name="inner")
    x = keras.Input((4, 6), batch_size=BATCH)
    y = layers.TimeDistributed(inner)(x)
    return keras.Model(x, layers.LSTM(3)(y)), [(BATCH, 4, 6)]


def _transformer_block():
    x = keras.Input((6, 8), batch_size=BATCH)
    h = layers.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)
    h = layers.LayerNormalization()(layers.Add()([x, h]))
    f = layers.Dense(8)(layers.Dense(16, activation="relu")(h))
    return keras.Model(x, layers.LayerNormalization()(layers.Add()([h, f]))), [(BATCH, 6, 8)]


def _masked(layer, features=3):
    x = keras.Input((5, features), batch_size=BATCH)
    return keras.Model(x, layer(layers.Masking()(x))), [(BATCH, 5, features)]


def _tokens(layer):
    x = keras.Input((6,), batch_size=BATCH, dtype="int32")
    return keras.Model(x, layer(layers.Embedding(10, 4, mask_zero=True)(x))), [(BATCH, 6)]


FLOPS_CASES = {
    "layers": _layer_family(),
    "echo": {name: _echo(name) for name in tdp.echo.EXPERIMENTS},
    "ours": {
        "TimeDistributedDense": lambda: _model(tdp.TimeDistributedDense(4), (None, 5, 3)),
        "TimeDistributed-Dense": lambda: _model(tdp.TimeDistributed(layers.Dense(4)), (None, 5, 3)),
        "TimeDistributed-Conv2D": lambda: _model(
            tdp.TimeDistributed(layers.Conv2D(4, 3, strides=2)), (None, 3, 9, 9, 2)
        ),
        "TimeDistributed-Sequential": lambda: _model(
            tdp.TimeDistributed(
                keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3), layers.Flatten()])
            ),
            (None, 4, 6, 6, 2),
        ),
        "TimeDistributed-skip_masked_steps": lambda: _masked(
            tdp.TimeDistributed(layers.Dense(4), skip_masked_steps=True)
        ),
        "frame-encoder": lambda: _sequential(
            [
                tdp.TimeDistributed(layers.Conv2D(4, 3, padding="same")),
                tdp.TimeDistributed(layers.GlobalAveragePooling2D()),
                layers.LSTM(6, return_sequences=True),
                tdp.TimeDistributedDense(2),
            ],
            (5, 8, 8, 3),
        ),
    },
    "stock_time_distributed": {
        "Dense": lambda: _model(layers.TimeDistributed(layers.Dense(4)), (None, 5, 3)),
        "Conv2D": lambda: _model(layers.TimeDistributed(layers.Conv2D(4, 3)), (None, 3, 7, 7, 2)),
        "nested-model": _nested,
    },
    "recurrent": {
        "LSTM": lambda: _model(layers.LSTM(4), (None, 6, 3)),
        "LSTM-sequences-backwards": lambda: _model(
            layers.LSTM(4, return_sequences=True, go_backwards=True), (None, 6, 3)
        ),
        "GRU": lambda: _model(layers.GRU(5), (None, 6, 3)),
        "GRU-reset_before": lambda: _model(layers.GRU(5, reset_after=False), (None, 6, 3)),
        "SimpleRNN": lambda: _model(layers.SimpleRNN(5, return_sequences=True), (None, 6, 3)),
        "LSTM-masked": lambda: _masked(layers.LSTM(4)),
        "GRU-embedded": lambda: _tokens(layers.GRU(3)),
        "Bidirectional-LSTM": lambda: _model(
            layers.Bidirectional(layers.LSTM(4, return_sequences=True)), (None, 6, 3)
        ),
        "Bidirectional-GRU-sum": lambda: _model(
            layers.Bidirectional(layers.GRU(4), merge_mode="sum"), (None, 6, 3)
        ),
        "RNN-LSTMCell": lambda: _model(layers.RNN(layers.LSTMCell(4)), (None, 6, 3)),
        "ConvLSTM2D": lambda: _model(
            layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True), (None, 4, 6, 6, 2)
        ),
        "ConvLSTM1D-strided": lambda: _model(layers.ConvLSTM1D(3, 3, strides=2), (None, 4, 9, 2)),
        "stacked": lambda: _sequential(
            [layers.LSTM(6, return_sequences=True), layers.GRU(4, return_sequences=True)], (7, 3)
        ),
    },
    "attention": {
        "MultiHeadAttention-self": lambda: _model(layers.MultiHeadAttention(2, 3), (None, 5, 4)),
        "MultiHeadAttention-cross": lambda: _model(
            layers.MultiHeadAttention(3, 2, value_dim=4, output_shape=(6,)),
            [(None, 5, 4), (None, 7, 3)],
        ),
        "MultiHeadAttention-key": lambda: _model(
            layers.MultiHeadAttention(2, 3), [(None, 5, 4), (None, 7, 3), (None, 7, 2)]
        ),
        "MultiHeadAttention-axes": lambda: _model(
            layers.MultiHeadAttention(2, 3, attention_axes=(2,)), (None, 3, 5, 4)
        ),
        "MultiHeadAttention-dropout": lambda: _model(
            layers.MultiHeadAttention(2, 3, dropout=0.5), (None, 5, 4)
        ),
        "GroupedQueryAttention": lambda: _model(layers.GroupQueryAttention(4, 4, 2), (None, 5, 6)),
        "Attention-dot": lambda: _model(layers.Attention(), [(None, 5, 3), (None, 4, 3)]),
        "Attention-concat": lambda: _model(
            layers.Attention(score_mode="concat"), [(None, 5, 3), (None, 4, 3)]
        ),
        "AdditiveAttention": lambda: _model(
            layers.AdditiveAttention(), [(None, 5, 3), (None, 4, 3)]
        ),
        "transformer-block": _transformer_block,
    },
    "functional": {
        "ops.matmul": _functional_matmul,
        "shared-layer": _shared_twice,
    },
    "applications": {
        name: (lambda name=name: _application(name))
        for name in sorted(n for n in dir(keras.applications) if n[:1].isupper())
        if name not in NOT_ON_TORCH
    },
}


def _application(name):
    size = APPLICATION_SIZES.get(name, 32)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    return model, [(1, size, size, 3)]


def input_data(shapes, model):
    """Inputs of `shapes` for `model`: small integers for an integer input, else floats."""
    rng = np.random.default_rng(0)
    data = []
    for shape, tensor in zip(shapes, model.inputs, strict=True):
        if "int" in str(tensor.dtype):
            data.append(rng.integers(0, 10, size=shape).astype(str(tensor.dtype)))
        else:
            data.append(rng.random(shape).astype("float32"))
    return data


def _unrolled(config):
    if isinstance(config, dict):
        return {k: (True if k == "unroll" else _unrolled(v)) for k, v in config.items()}
    if isinstance(config, list):
        return [_unrolled(v) for v in config]
    return config


def reference_flops(model, shapes):
    """`FlopCounterMode`'s FLOPs for one forward pass of `model` (torch backend only)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    cpu_attention = {
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: (
            lambda query, key, value, *args, out_shape=None, **kwargs: sdpa_flop_count(
                query, key, value
            )
        )
    }
    copy = model.__class__.from_config(_unrolled(model.get_config()))
    copy.set_weights(model.get_weights())
    data = [torch.as_tensor(x) for x in input_data(shapes, model)]
    with FlopCounterMode(display=False, custom_mapping=cpu_attention) as counter:
        copy(data if len(data) > 1 else data[0], training=False)
    return counter.get_total_flops()
