"""check_layer on a custom layer, a broken copy of it, a pytest test, and the pytest plugin.

For docs/testing.md.

docs/scripts/generate.py runs it section by section and records the output.
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:layer]
import keras
from keras import activations, initializers, layers


@keras.saving.register_keras_serializable(package="my_layers")
class Scale(layers.Layer):
    """Multiplies each feature by a learned factor, then applies `activation`."""

    def __init__(self, activation=None, scale_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.scale_initializer = initializers.get(scale_initializer)
        self.supports_masking = True  # works on each step alone, so a mask passes on

    def build(self, input_shape):
        self.scale = self.add_weight(
            name="scale", shape=(input_shape[-1],), initializer=self.scale_initializer
        )

    def call(self, inputs):
        return self.activation(inputs * self.scale)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "activation": activations.serialize(self.activation),
            "scale_initializer": initializers.serialize(self.scale_initializer),
        }
        return {**base_config, **config}


# --8<-- [end:layer]


# --8<-- [start:report]
from keras_tdplus.testing import check_layer

report = check_layer(
    Scale,
    {"activation": "tanh"},
    input_shape=(2, 5, 3),  # batch, time steps, features
    mask_behavior="pass_through",
    expected_output_shape=(2, 5, 3),
    expected_num_trainable_weights=1,
)
print(report)
print("ok:", report.ok)
# --8<-- [end:report]


# --8<-- [start:broken_layer]
@keras.saving.register_keras_serializable(package="my_layers")
class ForgetfulScale(Scale):
    """Scale with a bug: its config leaves out `activation`."""

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config


# --8<-- [end:broken_layer]


# --8<-- [start:broken_report]
broken = check_layer(ForgetfulScale, {"activation": "tanh"}, mask_behavior="pass_through")
print("ok:", broken.ok)
for result in broken.failures:
    print(result)
# --8<-- [end:broken_report]


# --8<-- [start:pytest]
# tests/test_my_layers.py, next to `from my_layers import Scale`
from keras_tdplus.testing import check_layer


def test_scale_passes_the_layer_checks():
    report = check_layer(Scale, {"activation": "tanh"}, mask_behavior="pass_through")
    report.raise_for_failures()  # an AssertionError listing every FAIL line


test_scale_passes_the_layer_checks()  # called by hand here; pytest finds and calls it
# --8<-- [end:pytest]

# --8<-- [start:pytest_failure]
try:
    broken.raise_for_failures()
except AssertionError as error:
    print(f"AssertionError: {error}")
# --8<-- [end:pytest_failure]

# --8<-- [start:plugin]
import subprocess
import sys

# A user's test file, written here so that the page can run it.
with open("test_my_layers.py", "w") as file:
    file.write(
        "import keras\n"
        "from keras_tdplus.testing import check_layer\n\n\n"
        "def test_dense_passes_the_layer_checks():\n"
        '    check_layer(keras.layers.Dense, {"units": 4}).raise_for_failures()\n'
    )

# The same as typing: pytest --keras-backends=jax,torch test_my_layers.py
command = [sys.executable, "-m", "pytest", "--keras-backends=jax,torch", "test_my_layers.py"]
done = subprocess.run(command, capture_output=True, text=True)
lines = done.stdout.splitlines()
first = next(i for i, line in enumerate(lines) if " keras backends: " in line)
print("\n".join(lines[first:]))  # each backend's own pytest output comes before this
print("exit status:", done.returncode)
# --8<-- [end:plugin]
