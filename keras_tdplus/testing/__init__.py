"""A public test helper for custom layers (Keras' own `run_layer_test` is private).

`check_layer` runs one layer class through the checks Keras' `run_layer_test`
runs on Keras' own layers, and a few of ours: config round trip, build,
symbolic and eager calls agreeing, a training step, `jit_compile`,
`mixed_float16` and `bfloat16`, a `.keras` round trip, masking as declared,
and wrapping in `keras_tdplus.TimeDistributed`. It returns a report with one
line per check, and `report.raise_for_failures()` turns a failure into an
`AssertionError` a test runner shows.

A check fails only for what Keras itself needs from a layer. What we merely
recommend (an explicit `compute_output_shape`, a declared mask behaviour) is
reported as `SKIP` with the reason, never as `FAIL`.
"""

import dataclasses
import os
import traceback

import keras

from keras_tdplus.testing._checks import Checker, Note, Skip, short

__all__ = ["CHECKS", "CheckResult", "LayerCheckReport", "check_layer"]

CHECKS = (
    "config_round_trip",
    "build",
    "symbolic_call",
    "eager_call",
    "compute_output_shape",
    "built_after_instantiation",
    "masking",
    "training_step",
    "jit_compile",
    "mixed_float16",
    "bfloat16",
    "keras_file_round_trip",
    "time_distributed",
)
"""The names of the checks, in the order `check_layer` runs them."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: its name, whether it passed, and why not.

    A check that was not run (the masking check without a declared
    `mask_behavior`) is `skipped`: it neither passed nor failed, and prints as
    `SKIP` with the reason. A check that passed may carry a remark in
    `detail` (for example, that random outputs were not compared).

    Example:

    >>> print(CheckResult("build", False, "ValueError: units must be positive"))
    FAIL build: ValueError: units must be positive
    >>> print(CheckResult("masking", False, "no mask_behavior declared", skipped=True))
    SKIP masking: no mask_behavior declared
    """

    name: str
    passed: bool
    detail: str = ""
    skipped: bool = False

    def __str__(self):
        status = "SKIP" if self.skipped else "PASS" if self.passed else "FAIL"
        return f"{status} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclasses.dataclass
class LayerCheckReport:
    """All check results for one layer class.

    Example:

    >>> from keras_tdplus import TimeDistributedDense
    >>> report = check_layer(TimeDistributedDense, {"units": 2}, checks=("build",))
    >>> report.ok, report["build"].passed, report.failures
    (True, True, [])
    """

    layer_name: str
    results: list

    @property
    def ok(self):
        """True when no check failed (skipped checks do not count)."""
        return not self.failures

    @property
    def failures(self):
        """The results that failed."""
        return [result for result in self.results if not (result.passed or result.skipped)]

    @property
    def skipped(self):
        """The results of checks that were not run."""
        return [result for result in self.results if result.skipped]

    def __getitem__(self, name):
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def __str__(self):
        return "\n".join([f"check_layer({self.layer_name}):"] + [f"  {r}" for r in self.results])

    def raise_for_failures(self):
        """Raises `AssertionError` listing every failed check, one line each."""
        if not self.ok:
            lines = "\n".join(f"  {result}" for result in self.failures)
            raise AssertionError(f"check_layer({self.layer_name}) failed:\n{lines}")


_OPTIONS = (
    "call_kwargs",
    "unpack_inputs",
    "expected_output_shape",
    "expected_output_dtype",
    "expected_num_trainable_weights",
    "expected_num_non_trainable_weights",
    "expected_num_seed_generators",
    "expected_num_losses",
    "supports_masking",
    "mask_behavior",
    "built_after_instantiation",
    "atol",
    "rtol",
    "jit_compile",
)


def check_layer(
    layer_cls,
    init_kwargs=None,
    input_shape=(2, 5, 3),
    *,
    input_dtype=None,
    input_data=None,
    call_kwargs=None,
    unpack_inputs=False,
    expected_output_shape=None,
    expected_output_dtype=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    expected_num_seed_generators=None,
    expected_num_losses=None,
    supports_masking=None,
    mask_behavior=None,
    built_after_instantiation=None,
    checks=CHECKS,
    atol=1e-5,
    rtol=1e-5,
    jit_compile="auto",
):
    """Runs the standard layer checks on `layer_cls` and returns a report.

    Every `expected_*` argument and every claim (`supports_masking`,
    `mask_behavior`, `built_after_instantiation`) is checked only when given;
    `None`, the default, leaves it unchecked. A check fails only for what
    Keras needs from a layer: a layer without `compute_output_shape` gets its
    shapes from Keras' own tracing of `call` and reports `SKIP
    compute_output_shape`, not a failure.

    Args:
        layer_cls: A `keras.layers.Layer` subclass, registered serializable.
        init_kwargs: Keyword arguments for `layer_cls(...)`.
        input_shape: A concrete input shape, batch axis included; a list or a
            dict of shapes for a layer called on a list or a dict of tensors
            (the structure is passed as the first argument of `call`).
        input_dtype: The inputs' dtype, one for all or a structure like
            `input_shape`; `"float32"` by default. Floats are drawn uniformly
            from `[-1, 1]`, integers from 0 to 9, with a pinned seed.
        input_data: Arrays to call the layer on, instead of random ones; the
            shapes then come from them.
        call_kwargs: Keyword arguments for every call of the layer.
        unpack_inputs: `True` calls the layer on a list of inputs as
            positional arguments, `layer(*inputs)`, and on a dict as keyword
            arguments, `layer(**inputs)` (`build` and `compute_output_shape`
            then get `<key>_shape=`), as attention layers take
            `query, value`. `False`, the default, passes the list or dict
            as the first argument.
        expected_output_shape: The output shape (or structure of shapes) the
            symbolic and eager calls must give. `None` in it, or in the
            layer's symbolic shape, matches any size; a known size or a rank
            that differs fails.
        expected_output_dtype: The output dtype (or a structure of dtypes).
        expected_num_trainable_weights: How many trainable weights the layer
            has once built.
        expected_num_non_trainable_weights: How many non-trainable weights.
        expected_num_seed_generators: How many `keras.random.SeedGenerator`s.
        expected_num_losses: How many losses (`add_loss`) an eager call adds.
        supports_masking: The value `layer.supports_masking` must have.
        mask_behavior: `"pass_through"` (a `(batch, time)` mask comes out
            unchanged, and `supports_masking` is True so Keras hands it to the
            layer), `"drop"` (no mask comes out), or `None`: the masking check
            then reports `SKIP` unless `supports_masking` is given.
        built_after_instantiation: `True` for a stateless layer Keras marks
            built at construction (one that does not override `build`),
            `False` for one that must not be; `None` reports `SKIP`.
        checks: The subset of `CHECKS` to run.
        atol: Absolute tolerance for comparing outputs.
        rtol: Relative tolerance: two outputs agree where
            `|a - b| <= atol + rtol * |b|`, as in `numpy.allclose`.
        jit_compile: Passed to `model.compile` for the training step
            (`"auto"`, as Keras' own test does). The `jit_compile` check
            always compiles with `jit_compile=True`.

    Returns:
        A `LayerCheckReport`; `str()` gives one line per check.

    Example:

    >>> from keras_tdplus import TimeDistributedDense
    >>> report = check_layer(TimeDistributedDense, {"units": 4},
    ...                      checks=("config_round_trip", "build"),
    ...                      expected_num_trainable_weights=2)
    >>> print(report)
    check_layer(TimeDistributedDense):
      PASS config_round_trip
      PASS build
    """
    if not (isinstance(layer_cls, type) and issubclass(layer_cls, keras.layers.Layer)):
        raise TypeError(
            "Received an invalid value for `layer_cls`, expected a subclass of "
            f"`keras.layers.Layer`. Received: layer_cls={layer_cls!r}"
        )
    unknown = [name for name in checks if name not in CHECKS]
    if unknown:
        raise ValueError(
            f"Received unknown check names {unknown}; expected names from {list(CHECKS)}. "
            f"Received: checks={tuple(checks)}"
        )
    if mask_behavior not in (None, "pass_through", "drop"):
        raise ValueError(
            "Received an invalid value for `mask_behavior`, expected 'pass_through', "
            f"'drop' or None. Received: mask_behavior={mask_behavior!r}"
        )
    if input_shape is None and input_data is None:
        raise ValueError(
            "Received no input: `input_shape` and `input_data` are both None. "
            "Fix: pass input_shape=(batch, ...) or input_data=arrays."
        )
    arguments = locals()
    options = {name: arguments[name] for name in _OPTIONS}
    checker = Checker(layer_cls, init_kwargs, input_shape, input_dtype, input_data, options)
    if unpack_inputs and checker.single:
        raise ValueError(
            "Received `unpack_inputs=True` for a single input; it unpacks a list or a dict "
            "of inputs into the call's arguments. Fix: pass input_shape=[query_shape, "
            "value_shape] (or a dict), or unpack_inputs=False."
        )
    runners = {
        "jit_compile": checker.jit,
        "mixed_float16": lambda: checker.mixed_precision("mixed_float16"),
        "bfloat16": lambda: checker.mixed_precision("mixed_bfloat16"),
    }
    results = []
    for name in CHECKS:
        if name not in checks:
            continue
        try:
            problem = runners.get(name, getattr(checker, name, None))()
        except Exception as error:  # a check reports, it does not stop the others
            frame = traceback.extract_tb(error.__traceback__)[-1]
            problem = f"{short(error)} (at {os.path.basename(frame.filename)}:{frame.lineno})"
        if isinstance(problem, Skip):
            results.append(CheckResult(name, False, str(problem), skipped=True))
        elif isinstance(problem, Note):
            results.append(CheckResult(name, True, str(problem)))
        else:
            results.append(CheckResult(name, problem is None, problem or ""))
    return LayerCheckReport(layer_cls.__name__, results)
