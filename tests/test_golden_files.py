"""`.keras` files saved by an earlier release load unchanged, without `custom_objects`.

The files in `tests/golden/` were written by `tests/golden/make_golden.py` on jax with
keras_tdplus 0.1.0, before the package's modules moved into feature folders. Keras finds
our classes by their registered names (`keras_tdplus>TimeDistributed`), so a move must
keep those names; these tests load the files on every backend and compare predictions.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

import keras_tdplus

GOLDEN = Path(__file__).resolve().parent / "golden"
EXPECTED = np.load(GOLDEN / "expected.npz")
NAMES = ("dense_heads", "masked_words", "frames", "quantized_head")


@pytest.mark.backend_independent
def test_every_golden_file_has_a_test():
    assert sorted(p.stem for p in GOLDEN.glob("*.keras")) == sorted(NAMES)
    assert str(EXPECTED["tdplus_version"]) == "0.1.0"


@pytest.mark.parametrize("name", NAMES)
def test_a_golden_file_loads_and_predicts_what_it_did(name):
    model = keras.saving.load_model(GOLDEN / f"{name}.keras")
    x, y = EXPECTED[f"{name}_x"], EXPECTED[f"{name}_y"]
    np.testing.assert_allclose(model.predict(x, verbose=0), y, rtol=1e-4, atol=1e-5)
    ours = {type(layer) for layer in model.layers} & {
        keras_tdplus.TimeDistributed,
        keras_tdplus.TimeDistributedDense,
    }
    assert ours, "the file's layers were not rebuilt as keras_tdplus layers"


def test_the_mask_op_of_a_golden_file_still_masks():
    """The saved `_MaskOf` op rebuilds: the masked sample's prediction ignores its padding."""
    model = keras.saving.load_model(GOLDEN / "masked_words.keras")
    x = EXPECTED["masked_words_x"].copy()
    before = model.predict(x, verbose=0)
    x[0, 2:, :] = 0  # already padding: unchanged
    x[1, :, 4:] = 0
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)
    x[0, 3, 0] = 7  # a masked step made valid changes the answer
    assert not np.allclose(model.predict(x, verbose=0)[0], before[0], atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_a_golden_file_saved_again_loads_again(name, tmp_path):
    model = keras.saving.load_model(GOLDEN / f"{name}.keras")
    model.save(tmp_path / "again.keras")
    again = keras.saving.load_model(tmp_path / "again.keras")
    x = EXPECTED[f"{name}_x"]
    np.testing.assert_allclose(
        again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
