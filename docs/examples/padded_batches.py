"""Skipping masked steps on padded batches; for docs/padded-batches.md.

docs/scripts/generate.py runs it on JAX and records the output.
"""

# --8<-- [start:what_changes]
import keras
import numpy as np
from keras import layers

import keras_tdplus as tdp

# Two documents of up to 3 sentences of 4 word ids; 0 is padding. The second
# document has one sentence, so two of its three steps are masked.
words = np.array(
    [
        [[4, 8, 2, 0], [7, 1, 0, 0], [9, 9, 3, 5]],
        [[6, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    ]
)
keras.utils.set_random_seed(0)
embed = layers.Embedding(10, 3, mask_zero=True)
encoder = keras.Sequential([layers.LSTM(3), layers.Dense(2, bias_initializer="ones")])
every_step = tdp.TimeDistributed(encoder)
valid_only = tdp.TimeDistributed(encoder, skip_masked_steps=True)

embedded = embed(words)
mask = embed.compute_mask(words)
print("all steps:\n", keras.ops.convert_to_numpy(every_step(embedded, mask=mask)).round(4))
print("valid steps only:\n", keras.ops.convert_to_numpy(valid_only(embedded, mask=mask)).round(4))
# --8<-- [end:what_changes]

# --8<-- [start:hierarchical]
# Synthetic documents of 2 to 12 sentences of up to 10 words. The label says
# whether word 1 appears anywhere in the document.
documents, sentences, words_per_sentence, vocabulary = 512, 12, 10, 40
rng = np.random.default_rng(0)
ids = rng.integers(2, vocabulary, size=(documents, sentences, words_per_sentence))
lengths = rng.integers(2, sentences + 1, size=documents)
ids[np.arange(sentences)[None, :] >= lengths[:, None]] = 0
labels = rng.integers(0, 2, size=documents)
for doc in np.flatnonzero(labels):
    ids[doc, rng.integers(0, lengths[doc]), rng.integers(0, words_per_sentence)] = 1
print(f"valid sentences: {np.mean(ids.any(axis=-1)):.0%}")


def hierarchical_model():
    keras.utils.set_random_seed(1)
    document = keras.Input((sentences, words_per_sentence), dtype="int32")
    embedded = layers.Embedding(vocabulary, 16, mask_zero=True)(document)
    # The sentence encoder runs on the valid sentences only.
    encoded = tdp.TimeDistributed(layers.LSTM(16), skip_masked_steps=True)(embedded)
    summary = layers.LSTM(16)(encoded)
    model = keras.Model(document, layers.Dense(1, activation="sigmoid")(summary))
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


model = hierarchical_model()
history = model.fit(ids, labels, batch_size=64, epochs=12, validation_split=0.25, verbose=0)
print(f"validation accuracy after 12 epochs: {history.history['val_accuracy'][-1]:.2f}")
# --8<-- [end:hierarchical]
