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

# --8<-- [start:training]
import keras
from keras import layers

import keras_tdplus as tdp

model = keras.Sequential(
    [
        keras.Input((20, 8), name="frames"),
        layers.Conv1D(16, 3, padding="same", name="conv"),
        layers.LSTM(32, return_sequences=True, name="lstm"),
        tdp.TimeDistributedDense(4, name="head"),
    ],
    name="tagger",
)
forward = tdp.count_flops(model, batch_size=32)
step = tdp.count_flops(model, batch_size=32, training=True)
print(f"forward {forward:,}, training step {step:,}: {step / forward:.2f}x")
print(tdp.explain_flops(layers.Dense(4), (None, 20, 32), training=True).formula)
model.get_layer("conv").trainable = False
print(f"conv frozen: {tdp.count_flops(model, batch_size=32, training=True):,}")
# --8<-- [end:training]

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

# --8<-- [start:padded]
import keras
from keras import layers

import keras_tdplus as tdp

# 16 documents of up to 32 sentences of 16 word ids (0 is padding); document i
# keeps its first valid[i] sentences, 180 of the batch's 512 (35%).
valid = [9, 3, 12, 6, 20, 11, 4, 14, 8, 32, 12, 5, 16, 7, 11, 10]


def document_model(skip_masked_steps):
    return keras.Sequential(
        [
            keras.Input((32, 16), dtype="int32", name="words"),
            layers.Embedding(1000, 32, mask_zero=True, name="embed"),
            tdp.TimeDistributed(
                layers.LSTM(64), skip_masked_steps=skip_masked_steps, name="sentences"
            ),
            layers.LSTM(64, name="document"),
            layers.Dense(4, name="head"),
        ],
        name="documents",
    )


model = document_model(skip_masked_steps=True)
print(tdp.param_table(model, flops=True, training=True, valid_steps=valid))
for skip in (True, False):
    for training, step in ((True, "train step"), (False, "forward pass")):
        flops = tdp.explain_flops(document_model(skip), training=training, valid_steps=valid)
        print(
            f"skip_masked_steps={skip}, {step}: {flops.total:,} effective, "
            f"{flops.padded:,} padded ({flops.padded / flops.total:.2f}x)"
        )
# --8<-- [end:padded]

# --8<-- [start:throughput]
import keras
import numpy as np
from keras import layers

import keras_tdplus as tdp

model = keras.Sequential(
    [
        keras.Input((20, 8)),
        layers.Conv1D(16, 3, padding="same"),
        layers.LSTM(32, return_sequences=True),
        tdp.TimeDistributedDense(4),
    ]
)
model.compile(optimizer="adam", loss="mse")
x, y = np.zeros((96, 20, 8)), np.zeros((96, 20, 4))
throughput = tdp.Throughput(peak_flops=989e12)  # one H100 SXM, dense bf16
history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[throughput])
print(sorted(history.history))
flops, samples = history.history["flops_per_second"], history.history["samples_per_second"]
for epoch in range(2):
    print(f"epoch {epoch}: {flops[epoch] / samples[epoch]:,.0f} training FLOPs per sample")
print(f"{tdp.count_flops(model, batch_size=32, training=True) // 32:,} from count_flops")
# --8<-- [end:throughput]
