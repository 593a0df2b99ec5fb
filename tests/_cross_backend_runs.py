"""Save or load a keras_tdplus model under one backend (run as a subprocess).

python tests/_cross_backend_runs.py save BACKEND FOLDER
python tests/_cross_backend_runs.py load BACKEND FOLDER OTHER [OTHER ...]
"""

import json
import os
import sys

ACTION, BACKEND, FOLDER = sys.argv[1:4]
os.environ["KERAS_BACKEND"] = BACKEND

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

import keras_tdplus  # noqa: E402

X = np.random.default_rng(0).normal(size=(3, 6, 5, 5, 1)).astype("float32")


def build():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((6, 5, 5, 1)),
            keras_tdplus.TimeDistributed(layers.Conv2D(2, 3, activation="relu")),
            keras_tdplus.TimeDistributed(layers.Flatten()),
            keras_tdplus.TimeDistributedDense(4, activation="tanh"),
            layers.LSTM(3, return_sequences=True),
            keras_tdplus.TimeDistributedDense(1),
        ]
    )


assert keras.config.backend() == BACKEND, keras.config.backend()
if ACTION == "save":
    model = build()
    model.save(os.path.join(FOLDER, f"{BACKEND}.keras"))
    np.save(os.path.join(FOLDER, f"{BACKEND}.npy"), model.predict(X, verbose=0))
    print("RESULT " + json.dumps({"saved": BACKEND}))
else:
    gaps = {}
    for other in sys.argv[4:]:
        model = keras.saving.load_model(os.path.join(FOLDER, f"{other}.keras"))
        expected = np.load(os.path.join(FOLDER, f"{other}.npy"))
        gaps[other] = float(np.max(np.abs(model.predict(X, verbose=0) - expected)))
    print("RESULT " + json.dumps({"loaded_by": BACKEND, "gaps": gaps}))
