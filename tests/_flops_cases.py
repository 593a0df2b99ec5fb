"""The models whose FLOPs are checked against torch's `FlopCounterMode`, by family.

`FLOPS_CASES[family][case]` is `make()`, which returns `(model, input_shapes)`:
a Keras model with a fixed batch of 2 and the shapes of the inputs to run it
on. `tests/test_flops_reference.py` runs each on the torch backend under
`FlopCounterMode` and checks it against `tests/golden/flops_reference.json`,
which `tests/golden/make_flops_reference.py` writes; `tests/test_flops.py`
counts each from its config, on jax, against that file. Every layer class of
`tests/_layer_cases.py` is a case of the `layers` family.

`VALID_STEPS_CASES[case]` is `make()`, which returns `(model, input_shapes,
valid_steps)`: a model of `TimeDistributed(inner, skip_masked_steps=True)`
under a step mask, and how many steps of each sample are valid, padding
after (`padded_data` builds the batch). Eager torch runs the inner layer on
exactly the valid steps; `reference_valid_steps` measures the batch so, and
unpadded for contrast, into `tests/golden/flops_valid_steps_reference.json`.

`reference_flops` is the reference: torch's counter around one forward pass
of inference (`training=False`: a random augmentation layer transforms its
input only in training, and `model.predict` runs it so).
`reference_training_flops` is one training step: the forward pass in training
and the backward pass of the sum of the float outputs (the inputs take no
gradient; a model with nothing trainable has no backward). In training the
augmentation layers transform: the affine ones (RandomRotation, RandomShear,
RandomTranslation, RandomZoom) with a batched matmul, RandomGaussianBlur,
RandomSharpness and RandomElasticTransform with a convolution. (On torch
RandomGrayscale and RandomColorDegeneration convert to grayscale element-wise,
0 FLOPs, where Keras' other backends contract the channels with `tensordot`.)
Both go through `torch_flops`, which takes out what Keras' torch backend and
torch's counter do that is not the model's arithmetic:
- its recurrent loop (`unroll=False`) runs step 0 once more to learn the output
  shape: the reference runs a copy with `unroll=True`, which has no such call;
- `scaled_dot_product_attention` runs as the CPU flash kernel, which torch's
  table does not count: the reference counts it with torch's own formula, and
  its backward kernel as the four gradient products (scores, values, queries,
  keys), torch's backward formula less the scores the fused kernel computes
  again (the math kernel's backward counts the same four);
- torch's formula for `convolution_backward` counts a grouped convolution's
  weight gradient with every input channel, `groups` times its products: the
  reference divides it by `groups` (a weight gradient costs what the forward
  does; the input gradient is counted as torch does);
- `SpectralNormalization` skips its power iteration on a kernel of zeros (a
  `Zeros` initializer, as some layer cases use), which no trained model has:
  a training step is measured with every all-zero float weight set to ones;
- AugMix picks its chains' augmentations with Python's `random` on every call,
  so its training count is a draw: every measurement seeds first
  (`keras.utils.set_random_seed(0)`), the same draw each run.
"""

import keras
import numpy as np
from _layer_cases import LAYER_CASES
from keras import layers

import keras_tdplus as tdp

__all__ = [
    "APPLICATION_SIZES",
    "FLOPS_CASES",
    "NOT_ON_TORCH",
    "TRAINING_DRAWN",
    "VALID_STEPS_CASES",
    "input_data",
    "padded_data",
    "reference_flops",
    "reference_training_flops",
    "reference_valid_steps",
    "torch_flops",
]

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

# The cases whose training step draws its work at random each step: AugMix its augmentations
# (Python's `random`), RandomElasticTransform its blur's size. `count_flops(training=True)`
# names them as missing; the training reference holds one seeded draw.
TRAINING_DRAWN = {"layers/AugMix-0", "layers/RandomElasticTransform-0"}

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


def _skipping(inner, shape, valid_steps, head=(), dtype="float32"):
    """`Masking` then `TimeDistributed(inner, skip_masked_steps=True)`, a sample per `valid_steps`.

    `Masking` masks a step whose values are all 0: a padded step of
    `padded_data`, of any rank (word ids included).
    """
    batch = len(valid_steps)
    x = keras.Input(shape, batch_size=batch, dtype=dtype)
    y = tdp.TimeDistributed(inner, skip_masked_steps=True)(layers.Masking()(x))
    for layer in head:
        y = layer(y)
    return keras.Model(x, y), [(batch, *shape)], valid_steps


def _document(valid_steps, sentences=4, words=6):
    """Word ids `(batch, sentences, words)`: each sentence encoded by an LSTM over its words."""
    encoder = keras.Sequential(
        [
            keras.Input((words,), dtype="int32"),
            layers.Embedding(10, 8, mask_zero=True),
            layers.LSTM(6),
        ],
        name="sentence_encoder",
    )
    head = [layers.GlobalAveragePooling1D(), layers.Dense(3)]
    return _skipping(encoder, (sentences, words), valid_steps, head, dtype="int32")


# `TimeDistributed(skip_masked_steps=True)` models, each `make()` returning
# `(model, input_shapes, valid_steps)`: the valid steps of each sample, padding after.
VALID_STEPS_CASES = {
    "Dense": lambda: _skipping(layers.Dense(4), (5, 3), [5, 2, 0, 3]),
    "Conv2D-frames": lambda: _skipping(layers.Conv2D(3, 3), (4, 6, 6, 2), [1, 4, 0, 2]),
    "Sequential": lambda: _skipping(
        keras.Sequential([keras.Input((6,)), layers.Dense(5, activation="relu"), layers.Dense(2)]),
        (5, 6),
        [0, 5, 3, 1],
    ),
    "document": lambda: _document([2, 0, 4, 1]),
    "LSTM-after": lambda: _skipping(
        layers.Dense(4), (6, 3), [6, 0, 2, 4], head=[layers.LSTM(3), layers.Dense(2)]
    ),
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


def padded_data(model, shapes, valid_steps):
    """Inputs of `shapes` for `model`, sample `i` valid for `valid_steps[i]` steps, then zeros.

    A valid step holds no 0 (integers from 1 for an integer input, floats
    above 0), so `Masking()` and `Embedding(mask_zero=True)` mask exactly the
    padding. Axis 1 of every input is time.
    """
    rng = np.random.default_rng(0)
    data = []
    for shape, tensor in zip(shapes, model.inputs, strict=True):
        dtype = str(tensor.dtype)
        if "int" in dtype:
            x = rng.integers(1, 10, size=shape).astype(dtype)
        else:
            x = (1 - rng.random(shape)).astype("float32")
        for sample, steps in zip(x, valid_steps, strict=True):
            sample[steps:] = 0
        data.append(x)
    return data


def _unrolled(config):
    if isinstance(config, dict):
        return {k: (True if k == "unroll" else _unrolled(v)) for k, v in config.items()}
    if isinstance(config, list):
        return [_unrolled(v) for v in config]
    return config


def _torch_artefacts():
    """Formulas for `FlopCounterMode` where torch's count is not the model's arithmetic."""
    import torch
    from torch.utils.flop_counter import bmm_flop, conv_flop_count, sdpa_flop_count

    def attention(query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value)

    def attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        # torch's `sdpa_backward_flop_count` less its first product, the scores
        # the fused kernel computes again rather than keep from the forward.
        b, h, s_q, d_q = query
        s_k, d_v = value[2], value[3]
        return (
            bmm_flop((b * h, s_q, d_v), (b * h, d_v, s_k))  # dScores = dOut V^T
            + bmm_flop((b * h, s_k, s_q), (b * h, s_q, d_v))  # dV = P^T dOut
            + bmm_flop((b * h, s_q, s_k), (b * h, s_k, d_q))  # dQ = dScores K
            + bmm_flop((b * h, d_q, s_q), (b * h, s_q, s_k))  # dK = Q^T dScores
        )

    def convolution_backward(grad_out, x, w, *args, out_shape=None, **kwargs):
        # torch's `conv_backward_flop`, its weight gradient divided by `groups`:
        # torch multiplies it by all input and output channels, where each
        # output channel of a grouped convolution sees only its group's inputs.
        _bias, _stride, _padding, _dilation, transposed, _output_padding, groups, mask = args

        def t(shape):
            return [shape[1], shape[0], *shape[2:]]

        flops = 0
        if mask[0]:
            flops += conv_flop_count(grad_out, w, x, not transposed)
        if mask[1]:
            pair = (t(grad_out), t(x)) if transposed else (t(x), t(grad_out))
            flops += conv_flop_count(*pair, t(w)) // groups
        return flops

    aten = torch.ops.aten
    return {
        aten._scaled_dot_product_flash_attention_for_cpu: attention,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: attention_backward,
        aten.convolution_backward: convolution_backward,
    }


def torch_flops(model, data, training=False):
    """`FlopCounterMode`'s FLOPs for `model` on `data` (torch backend only).

    One forward pass, or with `training` a training step: the forward in
    training and the backward of the sum of the float outputs (none where
    nothing is trainable). The inputs take no gradient.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    keras.utils.set_random_seed(0)
    copy = model.__class__.from_config(_unrolled(model.get_config()))
    weights = model.get_weights()
    if training:  # a trained model has no all-zero kernel: see the module docstring
        weights = [np.ones_like(w) if _all_zero_floats(w) else w for w in weights]
    copy.set_weights(weights)
    data = [torch.as_tensor(x) for x in data]
    with FlopCounterMode(display=False, custom_mapping=_torch_artefacts()) as counter:
        outputs = copy(data if len(data) > 1 else data[0], training=training)
        if training:
            floats = [y for y in keras.tree.flatten(outputs) if y.is_floating_point()]
            loss = sum((y.sum() for y in floats), torch.zeros(()))
            if loss.requires_grad:
                loss.backward()
    return counter.get_total_flops()


def _all_zero_floats(weight):
    return np.issubdtype(weight.dtype, np.floating) and weight.size and not np.any(weight)


def reference_flops(model, shapes):
    """`FlopCounterMode`'s FLOPs for one forward pass of `model` (torch backend only)."""
    return torch_flops(model, input_data(shapes, model))


def reference_training_flops(model, shapes):
    """`FlopCounterMode`'s FLOPs for one training step of `model` (torch backend only)."""
    return torch_flops(model, input_data(shapes, model), training=True)


def reference_valid_steps(model, shapes, valid_steps):
    """`FlopCounterMode`'s FLOPs for `model` on `valid_steps`, and on the same batch unpadded."""
    every_step = [shapes[0][1]] * len(valid_steps)
    data = padded_data(model, shapes, valid_steps)
    return {
        "valid_steps": list(valid_steps),
        "forward": torch_flops(model, data),
        "training": torch_flops(model, data, training=True),
        "padded_forward": torch_flops(model, padded_data(model, shapes, every_step)),
    }
