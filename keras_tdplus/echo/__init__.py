"""The echo experiments: an LSTM learns to repeat `[0.0, 0.2, 0.4, 0.6, 0.8]`.

Four framings of one tiny problem show when a layer should be applied per time
step. `one_to_one` feeds each value as its own one-step sample; `many_to_one`
reads the whole sequence and emits all five values at once from a Dense layer;
`many_to_many` returns the LSTM's output at every step and applies one small
Dense to each step with `keras.layers.TimeDistributed`;
`many_to_many_tdplus` does the same with `keras_tdplus.TimeDistributedDense`.

Every run starts from a fresh Keras session and freshly pinned seeds, so the
same seed gives the same predictions whatever ran before in the process.
"""

import contextlib
import dataclasses
import io
import time

import keras
import numpy as np
from keras import layers, ops

from keras_tdplus.echo import _torch_loop
from keras_tdplus.echo._plot import plot_results
from keras_tdplus.layers import TimeDistributedDense

__all__ = [
    "EXPERIMENTS",
    "Convergence",
    "EchoResult",
    "Experiment",
    "convergence",
    "format_convergence_table",
    "get_experiment",
    "plot_results",
    "run",
    "summary_text",
]

LENGTH = 5
SEQUENCE = np.arange(LENGTH, dtype="float32") / LENGTH


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One framing of the echo problem: its data, model and training budget.

    Example:

    >>> experiment = get_experiment("many_to_one")
    >>> X, y = experiment.data()
    >>> X.shape, y.shape, experiment.epochs, experiment.batch_size
    ((1, 5, 1), (1, 5), 500, 1)
    >>> experiment.build_model().output_shape
    (None, 5)
    """

    name: str
    description: str
    x_shape: tuple
    y_shape: tuple
    epochs: int
    batch_size: int
    head: str

    def data(self):
        """The `(X, y)` arrays, reshaped from `SEQUENCE`."""
        return SEQUENCE.reshape(self.x_shape), SEQUENCE.reshape(self.y_shape)

    def build_model(self, *, metrics=None, steps_per_execution=1):
        """A freshly initialised model for this experiment, compiled with MSE and Adam."""
        return_sequences = self.head != "dense"
        units = self.y_shape[1] if self.head == "dense" else 1
        if self.head == "time_distributed":
            head = layers.TimeDistributed(layers.Dense(1))
        elif self.head == "time_distributed_dense":
            head = TimeDistributedDense(1)
        else:
            head = layers.Dense(units)
        model = keras.Sequential(
            [
                keras.Input(self.x_shape[1:]),
                layers.LSTM(LENGTH, return_sequences=return_sequences),
                head,
            ],
            name=self.name,
        )
        model.compile(
            loss="mean_squared_error",
            optimizer="adam",
            metrics=metrics,
            steps_per_execution=steps_per_execution,
        )
        return model


class _LossPerStep(keras.metrics.Metric):
    """Keeps the mean squared error of every training step, in step order.

    Keras reports one loss per epoch, averaged over the epoch's steps. The echo
    experiments train on one batch per epoch, so one epoch of `steps` steps over
    the repeated batch does the same updates; this metric keeps what each of the
    article's epochs would have reported: the loss on the batch before its update.
    """

    def __init__(self, steps, name="loss_per_step"):
        super().__init__(name=name)
        self.losses = self.add_variable(shape=(steps,), initializer="zeros", name="losses")
        self.step = self.add_variable(shape=(), initializer="zeros", dtype="int32", name="step")

    def update_state(self, y_true, y_pred, sample_weight=None):
        loss = ops.mean(ops.square(ops.cast(y_true, y_pred.dtype) - y_pred))
        at_step = ops.arange(self.losses.shape[0], dtype="int32") == self.step.value
        self.losses.assign(ops.where(at_step, loss, self.losses.value))
        self.step.assign_add(1)

    def result(self):
        return ops.take(self.losses.value, ops.maximum(self.step.value - 1, 0))


_EXPERIMENTS = (
    Experiment(
        "one_to_one",
        "five one-step samples; LSTM(5) then Dense(1)",
        (LENGTH, 1, 1),
        (LENGTH, 1),
        epochs=1000,
        batch_size=LENGTH,
        head="dense",
    ),
    Experiment(
        "many_to_one",
        "one five-step sample; LSTM(5) then Dense(5) emits the whole sequence",
        (1, LENGTH, 1),
        (1, LENGTH),
        epochs=500,
        batch_size=1,
        head="dense",
    ),
    Experiment(
        "many_to_many",
        "one five-step sample; LSTM(5, return_sequences=True) then TimeDistributed(Dense(1))",
        (1, LENGTH, 1),
        (1, LENGTH, 1),
        epochs=1000,
        batch_size=1,
        head="time_distributed",
    ),
    Experiment(
        "many_to_many_tdplus",
        "one five-step sample; LSTM(5, return_sequences=True) then "
        "keras_tdplus.TimeDistributedDense(1)",
        (1, LENGTH, 1),
        (1, LENGTH, 1),
        epochs=1000,
        batch_size=1,
        head="time_distributed_dense",
    ),
)

EXPERIMENTS = tuple(experiment.name for experiment in _EXPERIMENTS)
"""The experiment names, in the order the CLI runs them."""


def get_experiment(name):
    """Returns the `Experiment` called `name`.

    Example:

    >>> get_experiment("many_to_many").y_shape
    (1, 5, 1)
    """
    for experiment in _EXPERIMENTS:
        if experiment.name == name:
            return experiment
    raise ValueError(
        f"Unknown echo experiment {name!r}. Expected one of: {', '.join(EXPERIMENTS)}. "
        f"Received: name={name!r}"
    )


@dataclasses.dataclass
class EchoResult:
    """What one run of an echo experiment produced.

    Attributes:
        name: The experiment's name.
        backend: The Keras backend it ran on.
        seed: The seed passed to `keras.utils.set_random_seed`.
        epochs: The number of epochs it trained for.
        params: The model's total parameter count.
        layer_params: `(layer name, class name, output shape, count)` per layer.
        summary: The text of `model.summary()` before training.
        predictions: The model's output on `X`, shaped like the model output.
        targets: The `y` it was trained on.
        loss_history: The training loss after each epoch.
        fit_seconds: Wall time of `model.fit`.

    Example:

    >>> result = run("one_to_one", epochs=2)
    >>> result.name, result.params, result.predictions.shape, len(result.loss_history)
    ('one_to_one', 146, (5, 1), 2)
    >>> len(result.formatted_predictions().splitlines())
    5
    """

    name: str
    backend: str
    seed: int
    epochs: int
    params: int
    layer_params: list
    summary: str
    predictions: np.ndarray
    targets: np.ndarray
    loss_history: list
    fit_seconds: float

    @property
    def final_loss(self):
        """The training loss after the last epoch."""
        return self.loss_history[-1]

    @property
    def max_abs_error(self):
        """The largest distance between a prediction and its target."""
        return float(np.max(np.abs(self.predictions - self.targets)))

    @property
    def echoes(self):
        """True when every prediction rounds to its target at one decimal."""
        return bool(np.all(np.round(self.predictions, 1) == np.round(self.targets, 1)))

    def formatted_predictions(self):
        """The predictions one per line as `'%.1f'`, as the article prints them."""
        # Adding 0.0 turns the -0.0 that rounding a tiny negative gives into 0.0.
        return "\n".join("%.1f" % (round(float(v), 1) + 0.0) for v in self.predictions.ravel())


@contextlib.contextmanager
def _one_thread_on_torch():
    """Runs torch on one CPU thread, then restores its thread count.

    A 146-parameter LSTM has nothing to split between threads; on a busy
    machine torch's intra-op threads wait on each other and one run of 1000
    steps takes 7 times as long as on one thread.
    """
    if keras.config.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def summary_text(model):
    """The text `model.summary()` prints.

    Example:

    >>> text = summary_text(get_experiment("many_to_many").build_model())
    >>> "Total params: 146" in text
    True
    """
    buffer = io.StringIO()
    model.summary(print_fn=lambda line, *args, **kwargs: buffer.write(line + "\n"))
    return buffer.getvalue()


def run(name, *, seed=0, epochs=None, verbose=0, weights=None, before_fit=None, per_epoch=None):
    """Trains one echo experiment from scratch and predicts the sequence.

    The run clears the Keras session and calls `keras.utils.set_random_seed`
    first, so its initial weights and data order depend on `seed` alone.

    Each epoch of the article is one step on one batch (all of `X`). By default
    the run makes those steps in a single `fit` over the batch repeated once per
    epoch, compiled `epochs` steps at a time (`steps_per_execution`), and records
    each step's loss: the same Adam updates on the same batches as one `fit`
    epoch at a time, without paying Keras' per-epoch overhead on every epoch
    (20 to 70 s a run on TensorFlow). On torch, where Keras' eager step itself
    costs about 8 ms, the steps run in a loop of torch operations on the
    model's own variables and optimizer (`keras_tdplus.echo._torch_loop`).
    `per_epoch=True` trains epoch by epoch with `fit`.

    Args:
        name: One of `EXPERIMENTS`.
        seed: Seed for Python, NumPy and the backend.
        epochs: Training epochs; `None` uses the experiment's own budget
            (1000, 500, 1000, 1000). `0` predicts with the initial weights.
        verbose: Passed to `model.fit`; `2` prints one line per epoch. A
            non-zero `verbose` trains epoch by epoch, so Keras prints each.
        weights: Optional list of arrays to start from instead of the seeded
            initialisation (as from `model.get_weights()`).
        before_fit: Optional callable given the model before training.
        per_epoch: `True` trains with one `fit` epoch per epoch, the plain
            way; `False` with the fast run (the single repeated-batch `fit`,
            or on torch the loop of torch operations); `None` (the default)
            picks `True` only when `verbose` is non-zero.

    Returns:
        An `EchoResult`.

    Example:

    >>> result = run("many_to_many", epochs=0)
    >>> result.params, result.predictions.shape
    (146, (1, 5, 1))
    """
    experiment = get_experiment(name)
    if epochs is None:
        epochs = experiment.epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(
            "Received an invalid value for `epochs`, expected a non-negative integer "
            f"or None. Received: epochs={epochs!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(
            "Received an invalid value for `seed`, expected a non-negative integer. "
            f"Received: seed={seed!r}"
        )
    if per_epoch is None:
        per_epoch = verbose != 0
    per_epoch = per_epoch or epochs == 0
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x, y = experiment.data()
    recorder = None if per_epoch else _LossPerStep(epochs)
    model = experiment.build_model(
        metrics=None if per_epoch else [recorder],
        # TensorFlow runs the steps in one compiled loop. Keras on torch refuses
        # more than one step per call, and on JAX older Keras (3.4, for one) unrolls them
        # all into one program, which takes minutes to compile.
        steps_per_execution=epochs
        if not per_epoch and keras.config.backend() == "tensorflow"
        else 1,
    )
    if weights is not None:
        model.set_weights(weights)
    summary = summary_text(model)
    if before_fit is not None:
        before_fit(model)
    with _one_thread_on_torch():
        start = time.perf_counter()
        if epochs == 0:
            loss_history = []
        elif per_epoch:
            history = model.fit(
                x, y, epochs=epochs, batch_size=experiment.batch_size, verbose=verbose
            )
            loss_history = history.history["loss"]
        elif keras.config.backend() == "torch" and _torch_loop.supports(model):
            loss_history = _torch_loop.train(model, x, y, epochs)
        else:
            # Each batch is the whole of X (batch_size == len(X)), so the repeated
            # arrays give each epoch's batch in turn. The per-epoch fit shuffles
            # the samples inside that batch, which changes a gradient only by
            # float rounding.
            model.fit(
                np.concatenate([x] * epochs),
                np.concatenate([y] * epochs),
                epochs=1,
                batch_size=experiment.batch_size,
                shuffle=False,
                verbose=verbose,
            )
            loss_history = ops.convert_to_numpy(recorder.losses)
        fit_seconds = time.perf_counter() - start
    predictions = model.predict(x, batch_size=experiment.batch_size, verbose=0)
    return EchoResult(
        name=name,
        backend=keras.config.backend(),
        seed=seed,
        epochs=epochs,
        params=model.count_params(),
        layer_params=[
            (layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers
        ],
        summary=summary,
        predictions=np.asarray(predictions, dtype="float64"),
        targets=y.astype("float64"),
        loss_history=[float(v) for v in loss_history],
        fit_seconds=fit_seconds,
    )


@dataclasses.dataclass(frozen=True)
class Convergence:
    """How one experiment fared over several seeds.

    Attributes:
        name: The experiment's name.
        backend: The Keras backend.
        seeds: The seeds run.
        echoed: How many runs echo the sequence to one decimal.
        median_error: Median over seeds of the max-abs-error.
        worst_error: Largest max-abs-error over seeds.
        median_loss: Median final training loss.
        mean_fit_seconds: Mean wall time of `fit`.

    Example:

    >>> row = Convergence.from_results(run("many_to_one", seed=s, epochs=1) for s in (0, 1))
    >>> row.name, row.seeds, row.worst_error >= row.median_error
    ('many_to_one', (0, 1), True)
    """

    name: str
    backend: str
    seeds: tuple
    echoed: int
    median_error: float
    worst_error: float
    median_loss: float
    mean_fit_seconds: float

    @classmethod
    def from_results(cls, results):
        """Summarises `EchoResult`s of one experiment (at least one)."""
        results = list(results)
        if not results:
            raise ValueError("Received no results; expected at least one `EchoResult`.")
        errors = [r.max_abs_error for r in results]
        return cls(
            name=results[0].name,
            backend=results[0].backend,
            seeds=tuple(r.seed for r in results),
            echoed=sum(r.echoes for r in results),
            median_error=float(np.median(errors)),
            worst_error=float(np.max(errors)),
            median_loss=float(np.median([r.final_loss for r in results])),
            mean_fit_seconds=float(np.mean([r.fit_seconds for r in results])),
        )


def convergence(name, seeds, *, epochs=None):
    """Runs `name` once per seed and summarises the runs as a `Convergence`.

    Example:

    >>> row = convergence("one_to_one", range(2), epochs=1)
    >>> row.seeds, 0 <= row.echoed <= 2
    ((0, 1), True)
    """
    return Convergence.from_results(run(name, seed=seed, epochs=epochs) for seed in seeds)


def format_convergence_table(rows):
    """A Markdown table of `Convergence` rows, one per experiment.

    Example:

    >>> table = format_convergence_table([convergence("many_to_one", [0], epochs=1)])
    >>> len(table.splitlines()), table.splitlines()[2].split(" | ")[1:4]
    (3, ['many_to_one', '1', '0/1'])
    """
    lines = [
        "| backend | experiment | seeds | echo to 1 d.p. | median max-abs-error "
        "| worst max-abs-error | median final loss | mean fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.backend} | {row.name} | {len(row.seeds)} "
            f"| {row.echoed}/{len(row.seeds)} | {row.median_error:.3f} "
            f"| {row.worst_error:.3f} | {row.median_loss:.1e} | {row.mean_fit_seconds:.1f} |"
        )
    return "\n".join(lines)
