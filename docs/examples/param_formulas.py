"""The parameter formula of every layer keras_tdplus covers, checked against Keras.

docs/scripts/generate.py runs it and puts the tables on docs/parameters.md.
"""

# Each section imports what it needs, so that it reads on its own on the page.
# ruff: noqa: E402

# --8<-- [start:explain]
import keras
from keras import layers

import keras_tdplus as tdp

explanation = tdp.explain_params(layers.LSTM(5), (None, 10, 3))
print(explanation)
print("formula:    ", explanation.formula)
print("substituted:", explanation.substituted)
print("total:      ", explanation.total, "| trainable:", explanation.trainable)
print("weights:    ", [(w.name, w.shape) for w in explanation.weights])
# --8<-- [end:explain]

# --8<-- [start:table_markdown]
examples = [
    (layers.Dense(4), (None, 3)),
    (layers.Dense(4, use_bias=False), (None, 3)),
    (tdp.TimeDistributedDense(4), (None, 10, 3)),
    (layers.TimeDistributed(layers.Dense(4)), (None, 10, 3)),
    (tdp.TimeDistributed(layers.Conv2D(8, 3)), (None, 10, 28, 28, 3)),
    (layers.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d"), (None, 10, 3)),
    (layers.SimpleRNN(5), (None, 10, 3)),
    (layers.LSTM(5), (None, 10, 3)),
    (layers.GRU(5), (None, 10, 3)),
    (layers.GRU(5, reset_after=False), (None, 10, 3)),
    (layers.Bidirectional(layers.LSTM(5)), (None, 10, 3)),
    (layers.Embedding(1000, 8), (None, 10)),
    (layers.Conv1D(8, 3), (None, 10, 3)),
    (layers.Conv2D(8, 3), (None, 28, 28, 3)),
    (layers.Conv2D(8, 3, groups=2), (None, 28, 28, 4)),
    (layers.Conv3D(8, 3), (None, 8, 28, 28, 3)),
    (layers.ConvLSTM1D(8, 3), (None, 10, 28, 3)),
    (layers.ConvLSTM2D(8, 3), (None, 10, 28, 28, 3)),
    (layers.LayerNormalization(), (None, 10, 16)),
    (layers.LayerNormalization(center=False), (None, 10, 16)),
    (layers.BatchNormalization(), (None, 10, 16)),
    (layers.Conv2DTranspose(8, 3), (None, 28, 28, 3)),
    (layers.DepthwiseConv2D(3, depth_multiplier=2), (None, 28, 28, 3)),
    (layers.SeparableConv2D(8, 3), (None, 28, 28, 3)),
    (layers.MultiHeadAttention(num_heads=2, key_dim=4), (None, 10, 16)),
    (layers.GroupQueryAttention(4, num_query_heads=4, num_key_value_heads=2), (None, 10, 16)),
    (layers.RNN(layers.LSTMCell(5)), (None, 10, 3)),
    (layers.GroupNormalization(groups=4), (None, 10, 16)),
    (layers.RMSNormalization(), (None, 10, 16)),
    (layers.Normalization(), (None, 10, 16)),
    (layers.PReLU(shared_axes=[1]), (None, 10, 16)),
]

print("| layer | input shape | formula | worked | n | Keras' count |")
print("|---|---|---|---|---|---|")
for layer, shape in examples:
    e = tdp.explain_params(layer, shape)
    built = type(layer).from_config(layer.get_config())  # a fresh copy to build
    with keras.StatelessScope(initialize_variables=False):  # shapes only, no initial values
        if isinstance(layer, (layers.MultiHeadAttention, layers.GroupQueryAttention)):
            built(keras.KerasTensor(shape), keras.KerasTensor(shape))  # self-attention
        else:
            built.build(shape)
    keras_count = built.count_params()
    agrees = "✓" if keras_count == e.total else f"✗ {keras_count}"
    print(
        f"| `{e.signature}` | `{shape}` | `{e.formula}` | `{e.substituted}` "
        f"| {e.total:,} | {agrees} |"
    )
# --8<-- [end:table_markdown]

# --8<-- [start:zero_markdown]
from keras_tdplus.params._explain import zero_weights
from keras_tdplus.params._registry import REGISTRY  # what the calculator knows, by class

weightless = [cls.__name__ for cls, entry in REGISTRY.items() if entry.weights is zero_weights]
print(", ".join(f"`{name}`" for name in sorted(weightless)))
# --8<-- [end:zero_markdown]

keras.backend.clear_session()
# --8<-- [start:table]
encoder = keras.Sequential(
    [
        keras.Input((None, 16)),
        layers.Masking(0.0),
        layers.Bidirectional(layers.GRU(32, return_sequences=True)),
        layers.LayerNormalization(),
        tdp.TimeDistributedDense(8, activation="softmax"),
    ],
    name="tagger",
)
table = tdp.param_table(encoder)
print(table)
print(table.total == encoder.count_params())
# --8<-- [end:table]

keras.backend.clear_session()
# --8<-- [start:frozen]
norm = layers.BatchNormalization()
print(tdp.explain_params(norm, (None, 16)))
norm.trainable = False
print(tdp.explain_params(norm, (None, 16)))
# --8<-- [end:frozen]

# --8<-- [start:count]
print(tdp.count_params(layers.LSTM(128), (None, None, 300)))
# --8<-- [end:count]


# --8<-- [start:register]
@keras.saving.register_keras_serializable(package="my_project")
class Gate(layers.Layer):
    """Scales each feature by a learned gate and counts the batches it has seen."""

    def build(self, input_shape):
        self.gate = self.add_weight(shape=(input_shape[-1],), name="gate")
        self.seen = self.add_weight(shape=(), name="seen", trainable=False)

    def call(self, x):
        return x * self.gate

    def compute_output_shape(self, input_shape):
        return input_shape


@tdp.register_param_formula(Gate)
def gate_weights(layer, input_shape):
    return [
        tdp.params.WeightSpec("gate", (input_shape[-1],), trainable=True),
        tdp.params.WeightSpec("seen", (), trainable=False),
    ]


model = keras.Sequential([keras.Input((10, 16)), Gate(), layers.LSTM(4)])
table = tdp.param_table(model.get_config())  # counted from the config: nothing is built
print(table.total, table.trainable, table.non_trainable)
print(table.total == model.count_params())
# --8<-- [end:register]
