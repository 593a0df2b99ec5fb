"""What Keras' TimeDistributed compiles, and the mask it drops; for docs/performance.md.

JAX only (it counts the operations of the traced program with jax.make_jaxpr).
docs/scripts/generate.py runs it and records the output.
"""

# --8<-- [start:program_size_markdown]
import jax
import keras
import numpy as np
from keras import layers

import keras_tdplus as tdp

# name: (a new layer, the shape of one step)
heads = {
    "keras.layers.TimeDistributed(Dense(32))": (
        lambda: layers.TimeDistributed(layers.Dense(32)),
        (32,),
    ),
    "keras_tdplus.TimeDistributed(Dense(32))": (
        lambda: tdp.TimeDistributed(layers.Dense(32)),
        (32,),
    ),
    "keras_tdplus.TimeDistributedDense(32)": (lambda: tdp.TimeDistributedDense(32), (32,)),
    "Dense(32) on the 3D input": (lambda: layers.Dense(32), (32,)),
    "keras.layers.TimeDistributed(Conv1D(32, 3))": (
        lambda: layers.TimeDistributed(layers.Conv1D(32, 3)),
        (16, 32),
    ),
    "keras_tdplus.TimeDistributed(Conv1D(32, 3))": (
        lambda: tdp.TimeDistributed(layers.Conv1D(32, 3)),
        (16, 32),
    ),
}
steps = (10, 100, 1000)


def program_size(layer, x):
    """The number of operations in the program JAX traces for `layer(x)`."""
    return len(jax.make_jaxpr(lambda x: layer(x))(x).jaxpr.eqns)


print("| head | " + " | ".join(f"T = {t}" for t in steps) + " |")
print("|---|" + "---|" * len(steps))
for name, (make, step_shape) in heads.items():
    sizes = []
    for t in steps:
        x = np.zeros((8, t, *step_shape), "float32")
        layer = make()
        layer.build(x.shape)
        sizes.append(program_size(layer, x))
    print(f"| `{name}` | " + " | ".join(f"{n:,} ops" for n in sizes) + " |")
# --8<-- [end:program_size_markdown]

keras.backend.clear_session()
# --8<-- [start:masks]
# One document of 2 sentences, each up to 3 word ids; 0 is padding.
words = np.array([[[3, 4, 0], [5, 0, 0]]])


def sentence_encoder(TimeDistributed):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2, 3), dtype="int32")
    embed = TimeDistributed(layers.Embedding(10, 4, mask_zero=True))
    encode = TimeDistributed(layers.LSTM(2))
    return keras.Model(inputs, encode(embed(inputs))), embed


stock, stock_embed = sentence_encoder(layers.TimeDistributed)
fast, fast_embed = sentence_encoder(tdp.TimeDistributed)
fast.set_weights(stock.get_weights())

print("mask out of keras.layers.TimeDistributed(Embedding):", stock_embed.compute_mask(words, None))
print("mask out of keras_tdplus.TimeDistributed(Embedding):")
print(fast_embed.compute_mask(words, None))

# What the LSTM gives for sentence 2 read without its padding: the word 5 alone.
embedding, lstm = stock_embed.layer, stock.layers[-1].layer
outputs = {
    "the word 5 alone": keras.ops.convert_to_numpy(lstm(embedding(np.array([[5]]))))[0],
    "keras.layers.TimeDistributed": stock.predict(words, verbose=0)[0, 1],
    "keras_tdplus.TimeDistributed": fast.predict(words, verbose=0)[0, 1],
}
for label, vector in outputs.items():
    print(f"sentence 2, {label:28}: {np.round(vector, 4)}")
# --8<-- [end:masks]
