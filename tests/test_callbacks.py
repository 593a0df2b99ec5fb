"""`Throughput`: what it adds to the logs of `fit`, and which steps it times.

A fake clock stands in for `time.perf_counter` (read through the module's `time`), so
the figures are exact: each training step lasts the seconds a test gives it, and the
clock jumps by 1000 s between steps, which no figure may include. Every fit is a tiny
Dense model on a few batches, so the file takes seconds on each backend.
"""

import functools
import math
import re

import keras
import numpy as np
import pytest
from keras import layers

from keras_tdplus import Throughput, count_flops, register_param_formula
from keras_tdplus.callbacks import _throughput

KEYS = ("samples_per_second", "flops_per_second")


class FakeClock:
    """`perf_counter` for the callback: read at each step's begin and end, in turn."""

    def __init__(self, seconds):
        self.seconds = list(seconds)  # how long each training step (begin to end) lasts
        self.now = 0.0
        self.reads = 0

    def perf_counter(self):
        if self.reads % 2:
            self.now += self.seconds[self.reads // 2]
        else:
            self.now += 1000.0  # between steps: not measured
        self.reads += 1
        return self.now


@pytest.fixture
def clock(monkeypatch):
    def install(*seconds):
        fake = FakeClock(seconds)
        monkeypatch.setattr(_throughput, "time", fake)
        return fake

    return install


class BatchLogs(keras.callbacks.Callback):
    """Records what the progress bar gets: the batch logs, after `Throughput` wrote them."""

    def __init__(self):
        super().__init__()
        self.logs = []
        self.begun = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.begun += 1

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: logs[k] for k in (*KEYS, "mfu") if k in logs})


def _model(steps_per_execution=1, batch=None):
    model = keras.Sequential(
        [keras.Input((4,), batch_size=batch), layers.Dense(3), layers.Dense(2)], name="net"
    )
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=steps_per_execution)
    return model


def _data(samples):
    rng = np.random.default_rng(0)
    return rng.normal(size=(samples, 4)).astype("float32"), np.zeros((samples, 2), "float32")


def _history(model, data, *callbacks, **fit_args):
    """`History.history` of a quiet fit of `model` on `data` (arrays, or a dataset alone)."""
    data = data if isinstance(data, tuple) else (data,)
    fit_args.setdefault("shuffle", False)  # a dataset or a generator warns that it ignores it
    return model.fit(*data, verbose=0, callbacks=list(callbacks), **fit_args).history


def _flops(batch):
    return count_flops(_model(), batch_size=batch, training=True)


def _assert_figures(history, epoch, samples, flops, seconds):
    assert history["samples_per_second"][epoch] == pytest.approx(samples / seconds, rel=1e-12)
    assert history["flops_per_second"][epoch] == pytest.approx(flops / seconds, rel=1e-12)


def test_history_holds_the_figures_of_every_epoch_at_the_training_flops_per_sample():
    history = _history(_model(), _data(24), Throughput(peak_flops=1e12), batch_size=8, epochs=3)
    assert {len(history[key]) for key in (*KEYS, "mfu", "loss")} == {3}
    for sps, fps, mfu in zip(*(history[key] for key in (*KEYS, "mfu")), strict=True):
        assert 0 < sps < math.inf
        assert fps / sps == pytest.approx(_flops(8) / 8, rel=1e-12)
        assert mfu == pytest.approx(fps / 1e12, rel=1e-12)


def test_the_first_step_is_left_out_and_validation_is_not_counted(clock):
    clock(7.0, 2.0, 3.0, 1.0, 1.0, 2.0)  # two epochs of three steps; validation reads none
    x, y = _data(24)
    seen = BatchLogs()
    callback = Throughput(peak_flops=100.0)
    validation = (x[:16], y[:16])
    history = _history(
        _model(), (x, y), callback, seen, batch_size=8, epochs=2, validation_data=validation
    )
    assert len(history["val_loss"]) == len(history["mfu"]) == 2
    _assert_figures(history, 0, samples=16, flops=2 * _flops(8), seconds=2.0 + 3.0)
    _assert_figures(history, 1, samples=24, flops=3 * _flops(8), seconds=1.0 + 1.0 + 2.0)
    assert history["mfu"][1] == pytest.approx(history["flops_per_second"][1] / 100.0)
    # The batch logs hold the epoch so far: nothing before the first timed step.
    assert seen.logs[0] == {}
    assert seen.logs[1]["samples_per_second"] == pytest.approx(8 / 2.0)
    assert seen.logs[2]["samples_per_second"] == pytest.approx(16 / 5.0)
    assert seen.logs[3]["samples_per_second"] == pytest.approx(8 / 1.0)


def test_the_last_batch_is_counted_at_its_size(clock):
    clock(7.0, 2.0, 5.0, 1.0, 1.0, 2.0)  # 20 samples: batches of 8, 8 and 4
    history = _history(_model(), _data(20), Throughput(), batch_size=8, epochs=2)
    assert "mfu" not in history
    # Epoch 0 leaves out the first 8 and the first 4 (each traces the step).
    _assert_figures(history, 0, samples=8, flops=_flops(8), seconds=2.0)
    _assert_figures(history, 1, samples=20, flops=2 * _flops(8) + _flops(4), seconds=4.0)


def test_a_model_fit_builds_on_its_first_batch_counts_its_last_batch_at_its_size(clock):
    # No Input: fit builds the model on its first batch, and its config keeps that batch.
    clock(7.0, 2.0, 5.0, 1.0, 1.0, 2.0)
    model = keras.Sequential([layers.Dense(3), layers.Dense(2)], name="net")
    model.compile(optimizer="sgd", loss="mse")
    history = _history(model, _data(20), Throughput(), batch_size=8, epochs=2)
    _assert_figures(history, 1, samples=20, flops=2 * _flops(8) + _flops(4), seconds=4.0)


@pytest.mark.backend("jax", "tensorflow")  # torch trains one step per call
def test_steps_per_execution_counts_every_step_of_a_call(clock):
    clock(9.0, 2.0, 1.0)  # 7 steps in calls of 3: steps 0-2, 3-5 and 6 alone
    history = _history(_model(steps_per_execution=3), _data(56), Throughput(), batch_size=8)
    _assert_figures(history, 0, samples=4 * 8, flops=4 * _flops(8), seconds=3.0)


def test_an_epoch_with_no_timed_step_gets_nan_and_history_stays_aligned(clock):
    clock(5.0, 2.0)  # one step per epoch: the first is left out
    history = _history(_model(), _data(8), Throughput(), batch_size=8, epochs=2)
    assert math.isnan(history["samples_per_second"][0])
    _assert_figures(history, 1, samples=8, flops=_flops(8), seconds=2.0)


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch):
        super().__init__()
        self.x, self.y, self.batch = x, y, batch

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, index):
        rows = slice(index * self.batch, (index + 1) * self.batch)
        return self.x[rows], self.y[rows]


def test_a_py_dataset_says_its_batch_and_its_last_batch(clock):
    clock(7.0, 2.0, 5.0, 1.0, 1.0, 2.0)
    history = _history(_model(), Batches(*_data(20), 8), Throughput(), epochs=2)
    _assert_figures(history, 1, samples=20, flops=2 * _flops(8) + _flops(4), seconds=4.0)


def _generator(batches, batch, data=_data):
    x, y = data(batches * batch)
    for index in range(batches):
        yield x[index * batch : (index + 1) * batch], y[index * batch : (index + 1) * batch]


def test_a_generator_needs_batch_size_the_model_or_the_argument(clock):
    seen = BatchLogs()
    with pytest.raises(ValueError, match=r"pass it, e.g. Throughput\(batch_size=32\)") as error:
        _history(_model(), _generator(3, 8), Throughput(), seen, steps_per_epoch=3)
    assert str(error.value).endswith("Received: x of type generator")
    assert seen.begun == 0

    clock(7.0, 2.0, 3.0)
    history = _history(_model(), _generator(3, 8), Throughput(batch_size=8), steps_per_epoch=3)
    _assert_figures(history, 0, samples=16, flops=2 * _flops(8), seconds=5.0)

    clock(7.0, 2.0, 3.0)  # an input that fixes the batch says it too
    history = _history(_model(batch=8), _generator(3, 8), Throughput(), steps_per_epoch=3)
    _assert_figures(history, 0, samples=16, flops=2 * _flops(8), seconds=5.0)


def test_a_batch_size_that_fit_contradicts_is_refused():
    with pytest.raises(ValueError, match=r"counts batches of 16, but fit trains on batches of 8"):
        _history(_model(), _data(16), Throughput(batch_size=16), batch_size=8)
    fix = r"of 8\. Fix: give input_shape the batch axis None or 8$"
    with pytest.raises(ValueError, match=fix):
        _history(_model(), _data(16), Throughput(input_shape=(16, 4)), batch_size=8)


@pytest.mark.backend("tensorflow")
def test_a_tf_dataset_says_its_batch(clock):
    import tensorflow as tf

    clock(7.0, 2.0, 3.0, 7.0, 2.0, 3.0)
    x, y = _data(24)
    for drop_remainder in (True, False):  # a static batch axis, then a first element read
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8, drop_remainder)
        history = _history(_model(), dataset, Throughput())
        _assert_figures(history, 0, samples=16, flops=2 * _flops(8), seconds=5.0)


@keras.saving.register_keras_serializable(package="test_callbacks")
class Scale(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale")

    def call(self, x):
        return x * self.scale

    def compute_output_shape(self, shape):
        return shape


register_param_formula(Scale, lambda layer, shape: {"scale": (shape[-1],)})


def test_a_model_it_cannot_count_is_refused_before_any_step():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2)(Scale(name="scale")(inputs)), name="scaled")
    model.compile(optimizer="sgd", loss="mse")
    seen = BatchLogs()
    with pytest.raises(ValueError, match=r"^Throughput cannot count the training FLOPs") as error:
        _history(model, _data(16), Throughput(), seen, batch_size=8)
    assert "of model 'scaled'" in str(error.value)
    assert "FLOPs formula for 'scale' (Scale)" in str(error.value)
    assert seen.begun == 0


@pytest.mark.backend_independent
@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, "1e12", True])
def test_a_bad_peak_flops_is_refused(value):
    expected = f"expected a positive finite number .* Received: peak_flops={value!r}"
    with pytest.raises(ValueError, match=rf"invalid value for `peak_flops`, {expected}"):
        Throughput(peak_flops=value)


@pytest.mark.backend_independent
@pytest.mark.parametrize("value", [0, 2.5, True])
def test_a_bad_batch_size_is_refused(value):
    with pytest.raises(ValueError, match=rf"`batch_size`, .* Received: batch_size={value!r}"):
        Throughput(batch_size=value)


@pytest.mark.backend_independent
def test_repr_and_a_call_outside_fit():
    callback = Throughput(peak_flops=989e12)
    assert repr(callback) == (
        "Throughput(peak_flops=989000000000000.0, batch_size=None, input_shape=None)"
    )
    callback.set_model(_model())
    with pytest.raises(ValueError, match=r"Received: not called by fit$"):
        callback.on_train_begin()


def _sequence_model():
    """A model of any number of steps, whose FLOPs grow with them."""
    model = keras.Sequential(
        [
            keras.Input((None, 8), name="frames"),
            layers.Dense(3),
            layers.GlobalAveragePooling1D(),
            layers.Dense(2),
        ],
        name="seq",
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def _sequences(samples, steps=6):
    rng = np.random.default_rng(0)
    return rng.normal(size=(samples, steps, 8)).astype("float32"), np.zeros((samples, 2), "float32")


def _sequence_flops(model, steps, batch):
    return count_flops(model, input_shape=(None, steps, 8), batch_size=batch, training=True)


def test_a_sequence_model_is_counted_at_the_steps_of_its_arrays(clock):
    clock(7.0, 2.0, 3.0)
    model = _sequence_model()
    history = _history(model, _sequences(24), Throughput(peak_flops=1e12), batch_size=8)
    assert {*KEYS, "mfu", "loss"} <= set(history)
    flops = _sequence_flops(model, 6, 8)
    _assert_figures(history, 0, samples=16, flops=2 * flops, seconds=5.0)
    assert flops != _sequence_flops(model, 7, 8)  # the steps count


def test_a_sequence_model_on_a_generator_needs_input_shape(clock):
    batches = functools.partial(_generator, 3, 8, data=_sequences)
    seen = BatchLogs()
    fix = r"Fix: pass it, e\.g\. Throughput\(input_shape=\(None, T, 8\)\) with T the steps"
    with pytest.raises(ValueError, match=fix) as error:
        _history(_sequence_model(), batches(), Throughput(batch_size=8), seen, steps_per_epoch=3)
    assert str(error.value).startswith(
        "Throughput cannot count the training FLOPs of model 'seq': its input 'frames' has an "
        "unknown size on axis 1 ((None, None, 8)), and fit's data does not say it."
    )
    assert str(error.value).endswith("Received: x of type generator")
    assert seen.begun == 0

    # The batch with batch_size, or on the batch axis of input_shape.
    for callback in (
        Throughput(batch_size=8, input_shape=(None, 6, 8)),
        Throughput(input_shape=(8, 6, 8)),
    ):
        clock(7.0, 2.0, 3.0)
        model = _sequence_model()
        history = _history(model, batches(), callback, steps_per_epoch=3)
        _assert_figures(history, 0, samples=16, flops=2 * _sequence_flops(model, 6, 8), seconds=5.0)


def test_a_dict_of_inputs_is_matched_to_the_model_by_key(clock):
    frames, notes = keras.Input((None, 8), name="frames"), keras.Input((None, 3), name="notes")
    pooled = [layers.GlobalAveragePooling1D()(layers.Dense(4)(x)) for x in (frames, notes)]
    # The model orders its inputs notes, frames (count_flops' order); Keras flattens them sorted.
    model = keras.Model(
        {"notes": notes, "frames": frames}, layers.Dense(2)(layers.Concatenate()(pooled))
    )
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x = {"frames": rng.normal(size=(24, 6, 8)), "notes": rng.normal(size=(24, 4, 3))}
    clock(7.0, 2.0, 3.0)
    history = _history(model, (x, np.zeros((24, 2))), Throughput(), batch_size=8)
    flops = count_flops(
        model, input_shape=[(None, 4, 3), (None, 6, 8)], batch_size=8, training=True
    )
    _assert_figures(history, 0, samples=16, flops=2 * flops, seconds=5.0)


class Steps(keras.utils.PyDataset):
    """Batches of 8 sequences, of the given number of steps each."""

    def __init__(self, *steps):
        super().__init__()
        self.steps = steps

    def __len__(self):
        return len(self.steps)

    def __getitem__(self, index):
        return _sequences(8, self.steps[index])


def test_batches_of_varying_steps_are_counted_at_the_first_batch(clock):
    clock(7.0, 2.0, 3.0)
    model = _sequence_model()
    history = _history(model, Steps(6, 7, 5), Throughput())
    _assert_figures(history, 0, samples=16, flops=2 * _sequence_flops(model, 6, 8), seconds=5.0)


@pytest.mark.backend("tensorflow")
def test_a_tf_dataset_says_its_steps(clock):
    import tensorflow as tf

    clock(7.0, 2.0, 3.0, 7.0, 2.0, 3.0)
    model = _sequence_model()
    static = tf.data.Dataset.from_tensor_slices(_sequences(24)).batch(8)
    # A reshape leaves the steps unknown to the element spec: the first element says them.
    unknown = static.map(lambda x, y: (tf.reshape(x, (tf.shape(x)[0], -1, 8)), y))
    assert unknown.element_spec[0].shape.as_list() == [None, None, 8]
    for dataset in (static, unknown):
        history = _history(model, dataset, Throughput())
        _assert_figures(history, 0, samples=16, flops=2 * _sequence_flops(model, 6, 8), seconds=5.0)


@pytest.mark.backend_independent
@pytest.mark.parametrize("value", [(None, -1, 8), (None, 6.5, 8), "frames", (), [(None, 6), 3]])
def test_a_bad_input_shape_is_refused(value):
    expected = "expected a tuple of non-negative ints or None that includes the batch axis"
    with pytest.raises(ValueError, match=rf"`input_shape`, {expected}, .*Received: ") as error:
        Throughput(input_shape=value)
    assert str(error.value).endswith(f"Received: input_shape={value!r}")
    assert "\n" not in str(error.value)


@pytest.mark.backend_independent
def test_an_input_shape_whose_batch_contradicts_batch_size_is_refused():
    message = (
        "Received an invalid value for `input_shape`, expected the batch axis of every input "
        "and `batch_size` to agree (or None, to take the other's). "
        "Received: input_shape=(16, 6, 8), batch_size=8"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Throughput(batch_size=8, input_shape=(16, 6, 8))
