"""The echo tutorial: one sequence, three framings, and TimeDistributedDense.

Shown step by step on docs/tutorial.md; docs/scripts/generate.py runs it and
records what each step prints. It also runs top to bottom with
`KERAS_BACKEND=jax python docs/examples/tutorial.py` (about 15 s).
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:imports]
import keras
import numpy as np
from keras import layers

import keras_tdplus as tdp

np.set_printoptions(precision=3, suppress=True)
# --8<-- [end:imports]

# --8<-- [start:sequence]
length = 5
seq = np.arange(length) / length
print(seq)
# --8<-- [end:sequence]


# --8<-- [start:show_data]
def show_data(X, y):
    """Prints the shapes of X and y, then every sample as nested lists."""
    print(f"X.shape = {X.shape}, y.shape = {y.shape}")
    for i in range(len(X)):
        print(f"sample {i}: X[{i}] = {X[i].tolist()}  ->  y[{i}] = {y[i].tolist()}")


def show_fit(history, epochs=(1, 10, 100, 500, 1000)):
    """Prints the training loss after some of the epochs."""
    losses = history.history["loss"]
    for epoch in epochs:
        if epoch <= len(losses):
            print(f"epoch {epoch:4d}: loss {losses[epoch - 1]:.2e}")


def show_predictions(predictions, y):
    print(f"predictions.shape = {predictions.shape}")
    print("predictions:  ", predictions.ravel())
    # `+ 0.0` turns the -0.0 that rounding a tiny negative number gives into 0.0.
    print("to 1 decimal: ", np.round(predictions.ravel(), 1) + 0.0)
    print(f"largest error: {np.abs(predictions - y).max():.3f}")


# --8<-- [end:show_data]


# One to one.

# --8<-- [start:o2o_data]
X = seq.reshape(5, 1, 1)  # 5 samples, 1 time step, 1 feature
y = seq.reshape(5, 1)  # 5 samples, 1 value
show_data(X, y)
# --8<-- [end:o2o_data]

# --8<-- [start:o2o_model]
keras.backend.clear_session()  # fresh layer names
keras.utils.set_random_seed(0)  # the same initial weights every run
one_to_one = keras.Sequential(
    [keras.Input((1, 1)), layers.LSTM(5), layers.Dense(1)], name="one_to_one"
)
one_to_one.compile(loss="mean_squared_error", optimizer="adam")
one_to_one.summary()
# --8<-- [end:o2o_model]

# --8<-- [start:o2o_params]
for layer in one_to_one.layers:
    print(tdp.explain_params(layer, layer.input.shape))
# --8<-- [end:o2o_params]

# --8<-- [start:o2o_fit]
history = one_to_one.fit(X, y, epochs=1000, batch_size=5, verbose=0)
show_fit(history)
# --8<-- [end:o2o_fit]

# --8<-- [start:o2o_predict]
one_to_one_predictions = one_to_one.predict(X, batch_size=5, verbose=0)
show_predictions(one_to_one_predictions, y)
# --8<-- [end:o2o_predict]


# Many to one.

# --8<-- [start:m2o_data]
X = seq.reshape(1, 5, 1)  # 1 sample, 5 time steps, 1 feature
y = seq.reshape(1, 5)  # 1 sample, 5 values
show_data(X, y)
# --8<-- [end:m2o_data]

# --8<-- [start:m2o_model]
keras.backend.clear_session()
keras.utils.set_random_seed(0)
many_to_one = keras.Sequential(
    [keras.Input((5, 1)), layers.LSTM(5), layers.Dense(5)], name="many_to_one"
)
many_to_one.compile(loss="mean_squared_error", optimizer="adam")
many_to_one.summary()
for layer in many_to_one.layers:
    print(tdp.explain_params(layer, layer.input.shape))
# --8<-- [end:m2o_model]

# --8<-- [start:m2o_fit]
history = many_to_one.fit(X, y, epochs=500, batch_size=1, verbose=0)
show_fit(history)
many_to_one_predictions = many_to_one.predict(X, batch_size=1, verbose=0)
show_predictions(many_to_one_predictions, y)
# --8<-- [end:m2o_fit]


# Many to many with TimeDistributed.

# --8<-- [start:m2m_data]
X = seq.reshape(1, 5, 1)  # 1 sample, 5 time steps, 1 feature
y = seq.reshape(1, 5, 1)  # 1 sample, 5 time steps, 1 value per step
show_data(X, y)
# --8<-- [end:m2m_data]

# --8<-- [start:m2m_model]
keras.backend.clear_session()
keras.utils.set_random_seed(0)
many_to_many = keras.Sequential(
    [
        keras.Input((5, 1)),
        layers.LSTM(5, return_sequences=True),  # one 5-vector per step: (None, 5, 5)
        layers.TimeDistributed(layers.Dense(1)),  # the same Dense(1) on each step
    ],
    name="many_to_many",
)
many_to_many.compile(loss="mean_squared_error", optimizer="adam")
many_to_many.summary()
for layer in many_to_many.layers:
    print(tdp.explain_params(layer, layer.input.shape))
# --8<-- [end:m2m_model]

# --8<-- [start:m2m_fit]
history = many_to_many.fit(X, y, epochs=1000, batch_size=1, verbose=0)
show_fit(history)
many_to_many_predictions = many_to_many.predict(X, batch_size=1, verbose=0)
show_predictions(many_to_many_predictions, y)
# --8<-- [end:m2m_fit]


# Many to many with TimeDistributedDense.

# --8<-- [start:tdd_model]
keras.backend.clear_session()
keras.utils.set_random_seed(0)
many_to_many_tdplus = keras.Sequential(
    [
        keras.Input((5, 1)),
        layers.LSTM(5, return_sequences=True),
        tdp.TimeDistributedDense(1),  # one matmul over all steps at once
    ],
    name="many_to_many_tdplus",
)
many_to_many_tdplus.compile(loss="mean_squared_error", optimizer="adam")
many_to_many_tdplus.summary()
for layer in many_to_many_tdplus.layers:
    print(tdp.explain_params(layer, layer.input.shape))
# --8<-- [end:tdd_model]

# --8<-- [start:tdd_fit]
history = many_to_many_tdplus.fit(X, y, epochs=1000, batch_size=1, verbose=0)
show_fit(history)
tdplus_predictions = many_to_many_tdplus.predict(X, batch_size=1, verbose=0)
show_predictions(tdplus_predictions, y)
gap = np.abs(tdplus_predictions - many_to_many_predictions).max()
print(f"largest gap to the TimeDistributed(Dense) model: {gap:.1e}")
# --8<-- [end:tdd_fit]


# Three heads, one set of weights.

# --8<-- [start:same_weights]
weights = many_to_many.get_weights()  # LSTM kernel, recurrent kernel, bias; Dense kernel, bias
print("head kernel", weights[3].shape, "bias", weights[4].shape)

heads = {
    "TimeDistributed(Dense(1))": layers.TimeDistributed(layers.Dense(1)),
    "Dense(1) on the 3D tensor": layers.Dense(1),
    "TimeDistributedDense(1)": tdp.TimeDistributedDense(1),
}
for name, head in heads.items():
    model = keras.Sequential([keras.Input((5, 1)), layers.LSTM(5, return_sequences=True), head])
    model.set_weights(weights)
    out = model.predict(X, verbose=0)
    gap = np.abs(out - many_to_many_predictions).max()
    print(f"{name:27} output {out.shape}, params {model.count_params()}, gap {gap:.1e}")
# --8<-- [end:same_weights]


# The same runs through keras_tdplus.echo, and the plot.

# --8<-- [start:echo_module]
from keras_tdplus import echo
from keras_tdplus.echo import plot_results

results = [echo.run(name, seed=0) for name in echo.EXPERIMENTS]
for result in results:
    print(
        f"{result.name:20} params {result.params}  final loss {result.final_loss:.1e}"
        f"  largest error {result.max_abs_error:.3f}  echoes to 1 d.p.: {result.echoes}"
    )
plot_results(results, "echo.png")
# --8<-- [end:echo_module]

# The package builds the same four models; its seed-0 runs echo too.
assert [r.params for r in results] == [146, 170, 146, 146]
assert all(r.max_abs_error < 0.1 for r in results)
