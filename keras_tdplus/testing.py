"""A public test helper for custom layers (Keras' own `run_layer_test` is private).

`check_layer` runs one layer class through the checks every keras_tdplus layer
passes: config round trip, build, symbolic and eager calls agreeing, a
training step, `mixed_float16` and `bfloat16`, a `.keras` round trip, masking
as declared, and wrapping in `keras_tdplus.TimeDistributed`. It returns a
report with one line per check, and `report.raise_for_failures()` turns a
failure into an `AssertionError` a test runner shows.
"""

import copy
import dataclasses
import inspect
import os
import tempfile
import traceback
import warnings

import keras
import numpy as np
from keras import ops

CHECKS = (
    "config_round_trip",
    "build",
    "symbolic_call",
    "eager_call",
    "training_step",
    "mixed_float16",
    "bfloat16",
    "keras_file_round_trip",
    "masking",
    "time_distributed",
)
"""The names of the checks, in the order `check_layer` runs them."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: its name, whether it passed, and why not.

    A check that was not run (the masking check without a declared
    `mask_behavior`) is `skipped`: it neither passed nor failed, and prints as
    `SKIP` with the reason.

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


class _Skip(str):
    """A check's return value meaning: not run, for this reason."""


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


def _to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _short(error):
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}"[:300]


def _differs(value, default):
    try:
        return bool(value != default)
    except Exception:  # arrays and other values without a plain truth value
        return value is not default


class _Checker:
    def __init__(self, layer_cls, init_kwargs, input_shape, mask_behavior, atol, jit_compile):
        self.layer_cls = layer_cls
        self.init_kwargs = dict(init_kwargs or {})
        self.input_shape = tuple(input_shape)
        self.mask_behavior = mask_behavior
        self.atol = atol
        self.jit_compile = jit_compile
        rng = np.random.default_rng(0)
        self.x = rng.uniform(-1, 1, size=self.input_shape).astype("float32")

    def make(self, **overrides):
        """A new layer; layer arguments (a wrapper's `layer`) are fresh copies too."""
        kwargs = {**self.init_kwargs, **overrides}
        for key, value in kwargs.items():
            if isinstance(value, keras.layers.Layer):
                # Dropping the dtype lets the copy follow the current policy,
                # as a layer built inside the policy scope would.
                config = {k: v for k, v in value.get_config().items() if k != "dtype"}
                kwargs[key] = type(value).from_config(config)
        return self.layer_cls(**kwargs)

    def model(self, layer, batch_shape=None):
        inputs = keras.Input(batch_shape=batch_shape or (None, *self.input_shape[1:]))
        return keras.Model(inputs, layer(inputs))

    def config_round_trip(self):
        layer = self.make()
        config = layer.get_config()
        # An argument may stay out of the config while it has its default (Keras
        # leaves out a None activity_regularizer); one given another value may not.
        parameters = inspect.signature(self.layer_cls.__init__).parameters.values()
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        missing = [
            p.name
            for p in parameters
            if p.kind in named
            and p.name != "self"
            and p.name not in config
            and (
                p.default is p.empty or _differs(self.init_kwargs.get(p.name, p.default), p.default)
            )
        ]
        if missing:
            return (
                f"get_config() leaves out the constructor argument(s) {missing}, so a "
                "reloaded layer falls back to their defaults; add them to get_config()"
            )
        # Some from_config methods (Keras' Wrapper's) pop keys from their argument.
        clone = self.layer_cls.from_config(copy.deepcopy(config))
        if clone.get_config() != config:
            return f"from_config(get_config()) gives a different config: {clone.get_config()}"
        serialized = keras.saving.serialize_keras_object(layer)
        try:
            restored = keras.saving.deserialize_keras_object(serialized)
        except TypeError as error:
            return (
                f"deserialize_keras_object cannot rebuild it ({_short(error)[:80]}...); "
                "is the class registered with keras.saving.register_keras_serializable?"
            )
        if type(restored) is not self.layer_cls:
            return (
                f"deserialize_keras_object gave {type(restored).__name__}; is the class "
                "registered with keras.saving.register_keras_serializable?"
            )
        return None

    def build(self):
        layer = self.make()
        layer.build(self.input_shape)
        if not layer.built:
            return "layer.built is False after build()"
        layer.compute_output_shape(self.input_shape)
        return None

    def symbolic_call(self):
        layer = self.make()
        outputs = layer(keras.Input(batch_shape=self.input_shape))
        expected = tuple(layer.compute_output_shape(self.input_shape))
        if tuple(outputs.shape) != expected:
            return (
                f"symbolic output shape {tuple(outputs.shape)} != compute_output_shape {expected}"
            )
        return None

    def eager_call(self):
        layer = self.make()
        eager = layer(self.x)
        expected = tuple(layer.compute_output_shape(self.input_shape))
        if tuple(eager.shape) != expected:
            return f"eager output shape {tuple(eager.shape)} != compute_output_shape {expected}"
        inputs = keras.Input(batch_shape=self.input_shape)
        model = keras.Model(inputs, layer(inputs))
        graph = model.predict(self.x, verbose=0, batch_size=self.input_shape[0])
        if not np.allclose(_to_numpy(eager), graph, atol=self.atol, rtol=0):
            gap = np.max(np.abs(_to_numpy(eager) - graph))
            return f"eager and compiled-model outputs differ by {gap:.3g} (atol {self.atol})"
        return None

    def training_step(self):
        layer = self.make()
        model = self.model(layer)
        model.compile(optimizer="adam", loss="mse", jit_compile=self.jit_compile)
        before = [w.copy() for w in model.get_weights()]
        y = np.ones(model.output_shape[1:], "float32")[None].repeat(self.input_shape[0], 0)
        history = model.fit(self.x, y, epochs=2, batch_size=self.input_shape[0], verbose=0)
        losses = history.history["loss"]
        if not np.all(np.isfinite(losses)):
            return f"training loss is not finite: {losses}"
        if layer.trainable_weights and all(
            np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)
        ):
            return "two training steps left every weight unchanged"
        return None

    def mixed_precision(self, policy):
        compute_dtype = policy.split("_")[-1]
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            layer = self.make()
            symbolic = layer(keras.Input(batch_shape=self.input_shape))
            eager = layer(self.x)
        finally:
            keras.config.set_dtype_policy(previous)
        for name, out in (("symbolic", symbolic), ("eager", eager)):
            if keras.backend.standardize_dtype(out.dtype) != compute_dtype:
                return f"{name} output dtype {out.dtype} under {policy}, expected {compute_dtype}"
        for weight in layer.weights:
            if keras.backend.standardize_dtype(weight.dtype) != "float32":
                return f"weight {weight.name} is {weight.dtype} under {policy}, expected float32"
        values = _to_numpy(ops.cast(eager, "float32"))
        if not np.all(np.isfinite(values)):
            return f"non-finite outputs under {policy}"
        reference = self.make()
        reference.build(self.input_shape)
        reference.set_weights(layer.get_weights())
        expected = _to_numpy(reference(self.x))
        tolerance = 0.05 * max(1.0, float(np.max(np.abs(expected))))
        gap = float(np.max(np.abs(values - expected))) if values.size else 0.0
        if gap > tolerance:
            return f"{policy} output is {gap:.3g} from float32 (tolerance {tolerance:.3g})"
        return None

    def keras_file_round_trip(self):
        model = self.model(self.make())
        expected = model.predict(self.x, verbose=0)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "layer.keras")
            model.save(path)
            restored = keras.saving.load_model(path)
        actual = restored.predict(self.x, verbose=0)
        if not np.allclose(actual, expected, atol=self.atol, rtol=0):
            gap = np.max(np.abs(actual - expected))
            return f"reloaded model predicts differently (max gap {gap:.3g})"
        return None

    def masking(self):
        if self.mask_behavior is None:
            return _Skip("no mask_behavior declared; pass 'pass_through' or 'drop' to check it")
        layer = self.make()
        if self.mask_behavior == "pass_through" and not layer.supports_masking:
            return (
                "declared mask_behavior='pass_through' but supports_masking is False, so "
                "Keras drops the mask before the layer; set self.supports_masking = True"
            )
        mask = np.ones(self.input_shape[:2], bool)
        mask[:, -1] = False
        layer.build(self.input_shape)
        out_mask = layer.compute_mask(ops.convert_to_tensor(self.x), ops.convert_to_tensor(mask))
        if self.mask_behavior == "pass_through":
            if out_mask is None or not np.array_equal(_to_numpy(out_mask), mask):
                return "declared mask_behavior='pass_through' but the mask was not passed on"
        elif self.mask_behavior == "drop" and out_mask is not None:
            return "declared mask_behavior='drop' but the layer returned a mask"
        masked_input = np.where(mask[..., None], self.x.reshape(*mask.shape, -1), 0.0)
        inputs = keras.Input(batch_shape=self.input_shape)
        masked = keras.layers.Masking(0.0)(inputs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.Model(inputs, layer(masked))
            model.predict(masked_input.reshape(self.input_shape), verbose=0)
        dropped = [w for w in caught if "mask" in str(w.message).lower()]
        if self.mask_behavior == "pass_through" and dropped:
            return f"Keras warned about the mask in a model: {str(dropped[0].message)[:150]}"
        return None

    def time_distributed(self):
        from keras_tdplus.time_distributed import TimeDistributed

        steps = 3
        inner = self.make()
        wrapper = TimeDistributed(inner)
        shape = (self.input_shape[0], steps, *self.input_shape[1:])
        x = np.random.default_rng(1).uniform(-1, 1, size=shape).astype("float32")
        outputs = _to_numpy(wrapper(x))
        per_step = np.stack([_to_numpy(inner(x[:, t])) for t in range(steps)], axis=1)
        if outputs.shape != per_step.shape:
            return f"TimeDistributed output shape {outputs.shape} != per-step {per_step.shape}"
        if not np.allclose(outputs, per_step, atol=self.atol, rtol=0):
            gap = np.max(np.abs(outputs - per_step))
            return f"TimeDistributed output is {gap:.3g} from the per-step outputs"
        return None


def check_layer(
    layer_cls,
    init_kwargs=None,
    input_shape=(2, 5, 3),
    *,
    mask_behavior=None,
    checks=CHECKS,
    atol=1e-5,
    jit_compile="auto",
):
    """Runs the standard layer checks on `layer_cls` and returns a report.

    Args:
        layer_cls: A `keras.layers.Layer` subclass, registered serializable.
        init_kwargs: Keyword arguments for `layer_cls(...)`.
        input_shape: A concrete input shape, batch axis included.
        mask_behavior: `"pass_through"` (a `(batch, time)` mask comes out
            unchanged, and `supports_masking` is True so Keras hands it to the
            layer), `"drop"` (no mask comes out), or `None` to skip the masking
            check (it then reports `SKIP`).
        checks: The subset of `CHECKS` to run.
        atol: Absolute tolerance for comparing outputs.
        jit_compile: Passed to `model.compile` for the training step.

    Returns:
        A `LayerCheckReport`; `str()` gives one line per check.

    Example:

    >>> from keras_tdplus import TimeDistributedDense
    >>> report = check_layer(TimeDistributedDense, {"units": 4},
    ...                      checks=("config_round_trip", "build"))
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
    checker = _Checker(layer_cls, init_kwargs, input_shape, mask_behavior, atol, jit_compile)
    runners = {
        "config_round_trip": checker.config_round_trip,
        "build": checker.build,
        "symbolic_call": checker.symbolic_call,
        "eager_call": checker.eager_call,
        "training_step": checker.training_step,
        "mixed_float16": lambda: checker.mixed_precision("mixed_float16"),
        "bfloat16": lambda: checker.mixed_precision("mixed_bfloat16"),
        "keras_file_round_trip": checker.keras_file_round_trip,
        "masking": checker.masking,
        "time_distributed": checker.time_distributed,
    }
    results = []
    for name in CHECKS:
        if name not in checks:
            continue
        try:
            problem = runners[name]()
        except Exception as error:  # a check reports, it does not stop the others
            frame = traceback.extract_tb(error.__traceback__)[-1]
            problem = f"{_short(error)} (at {os.path.basename(frame.filename)}:{frame.lineno})"
        if isinstance(problem, _Skip):
            results.append(CheckResult(name, False, str(problem), skipped=True))
        else:
            results.append(CheckResult(name, problem is None, problem or ""))
    return LayerCheckReport(layer_cls.__name__, results)
