"""Every SequenceShapeError keras_tdplus raises, each triggered by the mistake behind it.

Shown on docs/shape-errors.md. Each `error_*` section raises on purpose, so run
the file with docs/scripts/generate.py, which runs it section by section and
records each message. The lines between sections only reset layer names.
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:setup]
import keras
import numpy as np
from keras import layers

import keras_tdplus as tdp

seq = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
# --8<-- [end:setup]

keras.backend.clear_session()
# --8<-- [start:error_layer_after_lstm]
model = keras.Sequential(
    [
        keras.Input((5, 1)),
        layers.LSTM(5),  # returns only its last step: (None, 5)
        tdp.TimeDistributedDense(1),
    ]
)
# --8<-- [end:error_layer_after_lstm]

keras.backend.clear_session()
# --8<-- [start:error_layer_rank_2]
tdp.TimeDistributedDense(4)(np.ones((2, 3)))
# --8<-- [end:error_layer_rank_2]

keras.backend.clear_session()
# --8<-- [start:error_layer_rank_1]
tdp.TimeDistributed(layers.Dense(4))(np.ones(3))
# --8<-- [end:error_layer_rank_1]

keras.backend.clear_session()
# --8<-- [start:error_layer_mask]
x = np.ones((2, 4, 3))  # 2 samples, 4 steps
mask = np.ones((2, 5), dtype=bool)  # made for 5 steps
tdp.TimeDistributed(layers.Dense(4))(x, mask=mask)
# --8<-- [end:error_layer_mask]

keras.backend.clear_session()
# --8<-- [start:error_layer_time_axes]
questions = np.ones((2, 4, 3))  # 4 steps
answers = np.ones((2, 5, 3))  # 5 steps
tdp.TimeDistributed(layers.Concatenate())([questions, answers])
# --8<-- [end:error_layer_time_axes]

# --8<-- [start:error_input_rank]
tdp.check_sequence_input(seq)
# --8<-- [end:error_input_rank]

# --8<-- [start:error_input_timesteps]
tdp.check_sequence_input(seq.reshape(1, 5, 1), timesteps=10)
# --8<-- [end:error_input_timesteps]

# --8<-- [start:error_input_features]
tdp.check_sequence_input(seq.reshape(1, 5, 1), features=3)
# --8<-- [end:error_input_features]

# --8<-- [start:error_input_empty]
tdp.check_sequence_input(np.zeros((0, 5, 1)))
# --8<-- [end:error_input_empty]

# --8<-- [start:error_input_ragged]
sentences = [[0.1, 0.2, 0.3], [0.4, 0.5]]
tdp.check_sequence_input(sentences)
# --8<-- [end:error_input_ragged]

# --8<-- [start:error_input_ragged_inner]
steps = [[[0.1], [0.2]], [[0.3], [0.4, 0.5]]]
tdp.check_sequence_input(steps)
# --8<-- [end:error_input_ragged_inner]

# --8<-- [start:error_input_not_numeric]
tdp.check_sequence_input(None)
# --8<-- [end:error_input_not_numeric]

# --8<-- [start:error_input_dtype]
words = np.array([["the"], ["cat"], ["sat"]]).reshape(1, 3, 1)
tdp.check_sequence_input(words)
# --8<-- [end:error_input_dtype]

# --8<-- [start:error_input_deep]
nested = 0.0
for _ in range(40):
    nested = [nested]
tdp.check_sequence_input(nested)
# --8<-- [end:error_input_deep]


# --8<-- [start:error_input_unknown_rank]
class TracedTensor:
    """Stands for a tensor whose rank is unknown while a graph is traced."""

    shape = None


tdp.check_sequence_input(TracedTensor())
# --8<-- [end:error_input_unknown_rank]


# --8<-- [start:error_input_bad_shape]
class NotAnArray:
    shape = (1, -1, 1)


tdp.check_sequence_input(NotAnArray())
# --8<-- [end:error_input_bad_shape]

keras.backend.clear_session()
# --8<-- [start:fit_models]
many_to_many = keras.Sequential(
    [
        keras.Input((5, 1)),
        layers.LSTM(5, return_sequences=True),
        layers.TimeDistributed(layers.Dense(1)),
    ],
    name="many_to_many",
)

sequence = keras.Input((5, 1), name="sequence")
context = keras.Input((3,), name="context")
summary = layers.Concatenate()([layers.LSTM(4)(sequence), context])
two_inputs = keras.Model([sequence, context], layers.Dense(1)(summary), name="two_inputs")
# --8<-- [end:fit_models]

# --8<-- [start:error_fit_x_rank]
tdp.check_fit_data(many_to_many, seq.reshape(5, 1), seq.reshape(1, 5, 1))
# --8<-- [end:error_fit_x_rank]

# --8<-- [start:error_fit_y_rank]
tdp.check_fit_data(many_to_many, seq.reshape(1, 5, 1), seq.reshape(1, 5))
# --8<-- [end:error_fit_y_rank]

# --8<-- [start:error_fit_timesteps]
tdp.check_fit_data(many_to_many, np.zeros((1, 10, 1)))
# --8<-- [end:error_fit_timesteps]

# --8<-- [start:error_fit_features]
tdp.check_fit_data(many_to_many, np.zeros((1, 5, 2)))
# --8<-- [end:error_fit_features]

# --8<-- [start:error_fit_axis]
tdp.check_fit_data(two_inputs, [np.zeros((8, 5, 1)), np.zeros((8, 4))])
# --8<-- [end:error_fit_axis]

# --8<-- [start:error_fit_samples]
tdp.check_fit_data(many_to_many, np.zeros((2, 5, 1)), np.zeros((1, 5, 1)))
# --8<-- [end:error_fit_samples]

# --8<-- [start:error_fit_input_count]
tdp.check_fit_data(two_inputs, np.zeros((8, 5, 1)))
# --8<-- [end:error_fit_input_count]

# --8<-- [start:error_fit_missing_key]
tdp.check_fit_data(two_inputs, {"sequence": np.zeros((8, 5, 1))})
# --8<-- [end:error_fit_missing_key]

keras.backend.clear_session()
# --8<-- [start:error_model_return_sequences]
model = keras.Sequential(
    [
        layers.LSTM(5),
        layers.Dropout(0.2),
        layers.TimeDistributed(layers.Dense(1)),
    ]
)
tdp.check_model(model, input_shape=(None, 5, 1))
# --8<-- [end:error_model_return_sequences]

keras.backend.clear_session()
# --8<-- [start:error_model_input_without_time]
model = keras.Sequential([layers.LSTM(5), layers.Dense(1)])
tdp.check_model(model, input_shape=(None, 5))
# --8<-- [end:error_model_input_without_time]

keras.backend.clear_session()
# --8<-- [start:error_model_layer_without_time]
model = keras.Sequential([layers.Dense(8), layers.Conv1D(4, 3)])
tdp.check_model(model, input_shape=(None, 5))
# --8<-- [end:error_model_layer_without_time]

keras.backend.clear_session()
# --8<-- [start:error_model_input_spec_rank]
model = keras.Sequential([layers.Conv2D(8, 3)])
tdp.check_model(model, input_shape=(None, 28, 28))
# --8<-- [end:error_model_input_spec_rank]

keras.backend.clear_session()
# --8<-- [start:error_model_input_spec_axis]
head = layers.Dense(1)
head.build((None, 4))  # built for 4 features
model = keras.Sequential([head])
tdp.check_model(model, input_shape=(None, 5, 3))
# --8<-- [end:error_model_input_spec_axis]

keras.backend.clear_session()
# --8<-- [start:error_model_output_shape]
model = keras.Sequential([layers.Reshape((4, 4))])
tdp.check_model(model, input_shape=(None, 5, 3))
# --8<-- [end:error_model_output_shape]

keras.backend.clear_session()
# --8<-- [start:error_explain_build]
with tdp.explain_shape_errors():
    model = keras.Sequential(
        [
            keras.Input((5, 1)),
            layers.LSTM(5),
            layers.TimeDistributed(layers.Dense(1)),
        ]
    )
# --8<-- [end:error_explain_build]

keras.backend.clear_session()
# --8<-- [start:error_explain_fit]
many_to_many.compile(loss="mean_squared_error", optimizer="adam")
with tdp.explain_shape_errors():
    many_to_many.fit(seq.reshape(1, 5, 1), seq.reshape(5, 1), verbose=0)
# --8<-- [end:error_explain_fit]

keras.backend.clear_session()
# --8<-- [start:error_explain_validation]
X, y = seq.reshape(1, 5, 1), seq.reshape(1, 5, 1)
with tdp.explain_shape_errors():
    many_to_many.fit(X, y, validation_data=(X, np.zeros((2, 5, 1))), verbose=0)
# --8<-- [end:error_explain_validation]

keras.backend.clear_session()
# --8<-- [start:error_explain_model_call]
inputs = keras.Input((5, 1), name="sequence")
outputs = layers.TimeDistributed(layers.Dense(1))(layers.LSTM(5, return_sequences=True)(inputs))
model = keras.Model(inputs, outputs)
with tdp.explain_shape_errors():
    model(seq)
# --8<-- [end:error_explain_model_call]

keras.backend.clear_session()
# --8<-- [start:error_explain_time_distributed]
with tdp.explain_shape_errors():
    layers.TimeDistributed(layers.Dense(1))(keras.Input((5,)))
# --8<-- [end:error_explain_time_distributed]

keras.backend.clear_session()
# --8<-- [start:error_explain_input_spec]
with tdp.explain_shape_errors():
    layers.LSTM(5)(keras.Input((5,)))
# --8<-- [end:error_explain_input_spec]

keras.backend.clear_session()
# --8<-- [start:error_params_batch_axis]
tdp.explain_params(layers.LSTM(5), (5, 1))
# --8<-- [end:error_params_batch_axis]

keras.backend.clear_session()
# --8<-- [start:error_params_time_axis]
tdp.explain_params(tdp.TimeDistributedDense(4), (None, 32))
# --8<-- [end:error_params_time_axis]

keras.backend.clear_session()
# --8<-- [start:error_params_rank]
tdp.explain_params(layers.LSTM(5), (None,))
# --8<-- [end:error_params_rank]

keras.backend.clear_session()
# --8<-- [start:error_params_inside]
tdp.explain_params(layers.TimeDistributed(layers.Conv2D(8, 3)), (None, 10, 28, 28))
# --8<-- [end:error_params_inside]

# --8<-- [start:error_params_inside_bidirectional]
tdp.explain_params(layers.Bidirectional(layers.LSTM(5)), (None, 1))
# --8<-- [end:error_params_inside_bidirectional]

keras.backend.clear_session()
# --8<-- [start:error_params_last_step]
forgetful = keras.Sequential([layers.LSTM(5), tdp.TimeDistributedDense(1)])
tdp.param_table(forgetful, input_shape=(None, 5, 1))
# --8<-- [end:error_params_last_step]

keras.backend.clear_session()
# --8<-- [start:save_models]
import json
import zipfile

many_to_many.save("many_to_many.keras")

# A copy whose config.json says return_sequences=False, as a hand edit or
# another tool might leave it; Keras itself refuses to build such a model.
with zipfile.ZipFile("many_to_many.keras") as src, zipfile.ZipFile("broken.keras", "w") as dst:
    for item in src.namelist():
        data = src.read(item)
        if item == "config.json":
            config = json.loads(data)
            for layer in config["config"]["layers"]:
                if layer["class_name"] == "LSTM":
                    layer["config"]["return_sequences"] = False
            data = json.dumps(config)
        dst.writestr(item, data)
# --8<-- [end:save_models]
