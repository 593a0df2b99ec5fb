"""Converting existing models to the fast layers; for docs/migrating.md.

docs/scripts/generate.py runs it and records the output.
"""

# --8<-- [start:stock_model]
import keras
import numpy as np
from keras import layers

import keras_tdplus as tdp

keras.utils.set_random_seed(0)
frames = keras.Input((None, 16, 16, 3), name="frames")  # clips of any length
x = layers.TimeDistributed(layers.Conv2D(8, 3, activation="relu"))(frames)
x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
x = layers.LSTM(16, return_sequences=True)(x)
labels = layers.TimeDistributed(layers.Dense(4, activation="softmax"), name="labels")(x)
model = keras.Model(frames, labels, name="frame_tagger")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

clips = np.random.default_rng(0).uniform(size=(4, 12, 16, 16, 3)).astype("float32")
tags = np.random.default_rng(1).integers(0, 4, size=(4, 12))
model.fit(clips, tags, epochs=2, verbose=0)
model.save("frame_tagger.keras")
# --8<-- [end:stock_model]

# --8<-- [start:convert]
old = keras.saving.load_model("frame_tagger.keras")
new = tdp.convert_time_distributed(old)

for before, after in zip(old.layers, new.layers, strict=True):
    if type(before) is not type(after):
        print(
            f"{before.name:25} {type(before).__module__.split('.')[0]}.{type(before).__name__}"
            f"  ->  {type(after).__module__.split('.')[0]}.{type(after).__name__}"
        )
print("same parameter count:", old.count_params() == new.count_params())
gap = np.abs(new.predict(clips, verbose=0) - old.predict(clips, verbose=0)).max()
print(f"largest prediction gap: {gap:.1e}")
# --8<-- [end:convert]

# --8<-- [start:continue]
print("compiled:", new.compiled, "| loss:", new.loss)
print("optimizer steps, old:", int(old.optimizer.iterations), "new:", int(new.optimizer.iterations))
new.fit(clips, tags, epochs=2, verbose=0)
new.save("frame_tagger_fast.keras")
reloaded = keras.saving.load_model("frame_tagger_fast.keras")  # no custom_objects needed
print(type(reloaded.get_layer("labels")).__name__, reloaded.count_params())
# --8<-- [end:continue]

# --8<-- [start:nested]
head = keras.Sequential(
    [keras.Input((None, 16)), layers.TimeDistributed(layers.Dense(4))], name="head"
)
outer = keras.Sequential([keras.Input((None, 8)), layers.LSTM(16, return_sequences=True), head])
converted = tdp.convert_time_distributed(outer)
print(type(converted.get_layer("head").layers[0]).__name__)
# --8<-- [end:nested]


# --8<-- [start:quantized]
keras.utils.set_random_seed(0)
tagger = keras.Sequential(
    [keras.Input((12, 32)), layers.TimeDistributed(layers.Dense(16), name="tags")]
)
plain = keras.Sequential([keras.Input((12, 32)), layers.Dense(16)])  # the reference
plain.set_weights(tagger.get_weights())
tagger.quantize("int8")
plain.quantize("int8")

steps = np.random.default_rng(2).normal(size=(4, 12, 32)).astype("float32")
expected = plain.predict(steps, verbose=0)
fast = tdp.convert_time_distributed(tagger)
print(type(fast.get_layer("tags")).__name__, fast.get_layer("tags").dtype_policy.name)
for name, m in [("stock TimeDistributed", tagger), ("converted", fast)]:
    gap = np.abs(m.predict(steps, verbose=0) - expected).max()
    print(f"{name:22} largest gap to the int8 Dense: {gap:.1e}")
# --8<-- [end:quantized]


# --8<-- [start:subclassed]
class Tagger(keras.Model):
    def __init__(self):
        super().__init__()
        self.head = layers.TimeDistributed(layers.Dense(4))

    def call(self, inputs):
        return self.head(inputs)


try:
    tdp.convert_time_distributed(Tagger())
except TypeError as error:
    print(error)
# --8<-- [end:subclassed]
