"""FLOPs and training memory, counted from a model's config.

docs/scripts/generate.py runs it and puts the outputs on docs/flops.md.
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:explain]
from keras import layers

import keras_tdplus as tdp

explanation = tdp.explain_flops(layers.LSTM(32), (None, 20, 16))
print(explanation.formula)
print(explanation.substituted)
print(f"{explanation.total:,} FLOPs")
print(tdp.explain_flops(layers.TimeDistributed(layers.Dense(4)), (None, 20, 32)).formula)
# --8<-- [end:explain]

# --8<-- [start:table]
import keras
from keras import layers

import keras_tdplus as tdp

model = keras.Sequential(
    [
        keras.Input((None, 8), name="frames"),
        layers.Conv1D(16, 3, padding="same", name="conv"),
        layers.LSTM(32, return_sequences=True, name="lstm"),
        tdp.TimeDistributedDense(4, name="head"),
    ],
    name="tagger",
)
model.save("tagger.keras")
try:
    tdp.count_flops(model)
except ValueError as error:
    print(error)
print(tdp.count_flops(model, input_shape=(None, 20, 8)))
print(tdp.param_table("tagger.keras", input_shape=(None, 20, 8), flops=True, batch_size=32))
# --8<-- [end:table]

# --8<-- [start:partial]
import keras
from keras import layers

import keras_tdplus as tdp


@keras.saving.register_keras_serializable(package="docs")
class Gram(layers.Layer):
    """Every step against every other: a (time, time) matrix per sample."""

    def call(self, x):
        return keras.ops.matmul(x, keras.ops.transpose(x, (0, 2, 1)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[1])


tdp.register_param_formula(Gram, lambda layer, input_shape: {})
inputs = keras.Input((20, 8))
model = keras.Model(inputs, layers.Dense(2, name="head")(Gram(name="gram")(inputs)), name="pairs")
print(tdp.explain_flops(model))


@tdp.register_flops_formula(Gram)
def gram_flops(layer, input_shape, output_shape):
    batch, steps, features = input_shape
    return 2 * batch * steps * steps * features


print(tdp.count_flops(model))
# --8<-- [end:partial]

# --8<-- [start:memory]
import keras
from keras import layers

import keras_tdplus as tdp

model = keras.Sequential(
    [
        keras.Input((20, 8)),
        layers.LSTM(256, return_sequences=True),
        tdp.TimeDistributedDense(256),
    ]
)
print("float32:")
print(tdp.estimate_memory(model, batch_size=64, optimizer="adam"))
mixed = keras.Sequential(
    [
        keras.Input((20, 8)),
        layers.LSTM(256, return_sequences=True, dtype="mixed_float16"),
        tdp.TimeDistributedDense(256, dtype="mixed_float16"),
    ]
)
print("mixed_float16 (float16 activations, float32 weights):")
print(tdp.estimate_memory(mixed, batch_size=64, optimizer="adam"))
# --8<-- [end:memory]
