"""One example of each keras_tdplus feature, for docs/index.md.

docs/scripts/generate.py runs it section by section and records the output;
the `error_*` sections raise on purpose.
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:time_distributed_dense]
import keras
import numpy as np
from keras import layers

import keras_tdplus as tdp

model = keras.Sequential(
    [
        keras.Input((None, 8)),  # any number of steps, 8 features each
        layers.Masking(0.0),
        tdp.TimeDistributedDense(16, activation="relu"),
        layers.LSTM(4),  # still sees the mask from Masking
    ]
)
x = np.random.default_rng(0).normal(size=(2, 7, 8))
print(model(x).shape, model.count_params())
# --8<-- [end:time_distributed_dense]

# --8<-- [start:time_distributed]
video = np.zeros((2, 10, 32, 32, 3))  # 2 clips of 10 RGB frames
conv = tdp.TimeDistributed(layers.Conv2D(8, 3))
print(conv(video).shape)  # one Conv2D call on 20 frames
# --8<-- [end:time_distributed]

# --8<-- [start:convert]
stock = keras.Sequential(
    [
        keras.Input((5, 1)),
        layers.LSTM(5, return_sequences=True),
        layers.TimeDistributed(layers.Dense(1)),
    ],
    name="many_to_many",
)
fast = tdp.convert_time_distributed(stock)
seq = np.array([0.0, 0.2, 0.4, 0.6, 0.8]).reshape(1, 5, 1)
print([type(layer).__name__ for layer in fast.layers])
print(np.abs(fast.predict(seq, verbose=0) - stock.predict(seq, verbose=0)).max())
# --8<-- [end:convert]

# --8<-- [start:error_check_sequence_input]
seq = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
tdp.check_sequence_input(seq)
# --8<-- [end:error_check_sequence_input]

keras.backend.clear_session()
# --8<-- [start:explain_params]
print(tdp.explain_params(layers.LSTM(5), (None, 1, 1)))
print(tdp.param_table(stock))
# --8<-- [end:explain_params]

# --8<-- [start:echo]
from keras_tdplus import echo

result = echo.run("many_to_many", seed=0)
print(result.params, result.predictions.shape)
print(result.formatted_predictions())
# --8<-- [end:echo]

# --8<-- [start:check_layer]
from keras_tdplus.testing import check_layer


@keras.saving.register_keras_serializable(package="my_project")
class Scale(layers.Layer):
    """Multiplies each feature by a learned factor."""

    def build(self, input_shape):
        self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.factor

    def compute_output_shape(self, input_shape):
        return input_shape


print(check_layer(Scale, input_shape=(2, 3)))
# --8<-- [end:check_layer]
