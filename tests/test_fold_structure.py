"""The fold is structural: one inner call per wrapper call, whatever the number of steps.

The README's claim is that the program does not grow with `T`. These tests count
instead of timing: how many times the inner layer's `call` runs per wrapper call
(every backend), and how many equations the traced JAX program holds (jax). Stock
`keras.layers.TimeDistributed` is counted the same way, to show the counters see a
per-step loop when there is one.

Where the wrapper's decision runs a convolution or a pooling window on groups of steps
(a CPU under JAX or torch, `_strategy`), the count is the number of groups: never more than
the steps and never more than `MAX_GROUPS`, so the program stops growing there.
"""

import functools
import sys

import keras
import numpy as np
import pytest
from keras import layers

from keras_tdplus import TimeDistributed, TimeDistributedDense
from keras_tdplus.layers import _strategy

STEPS = (1, 10, 1000)

INNER = {
    "dense": (lambda: layers.Dense(3), (4,)),
    "conv1d": (lambda: layers.Conv1D(3, 2), (6, 4)),
    "conv2d": (lambda: layers.Conv2D(2, 3), (5, 5, 1)),
    "sequential": (lambda: keras.Sequential([layers.Dense(3), layers.Dense(2)]), (4,)),
    "pool2d": (lambda: keras.Sequential([layers.MaxPooling2D(2), layers.Flatten()]), (6, 6, 3)),
}


def count_calls(layer):
    """Makes `layer.call` count its calls; returns the list that grows by one per call."""
    calls = []
    original = layer.call

    @functools.wraps(original)
    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    layer.call = counted
    return calls


def _input(steps, inner_shape, batch=2):
    rng = np.random.default_rng(steps)
    return rng.normal(size=(batch, steps, *inner_shape)).astype("float32")


@pytest.mark.parametrize("kind", sorted(INNER))
@pytest.mark.parametrize("steps", STEPS)
def test_inner_layer_is_called_once_per_wrapper_call(kind, steps):
    factory, inner_shape = INNER[kind]
    inner = factory()
    wrapper = TimeDistributed(inner)
    x = _input(steps, inner_shape)
    wrapper.build(x.shape)
    calls = count_calls(inner)
    wrapper(x)
    expected = _calls_per_wrapper_call(wrapper, x.shape)
    assert len(calls) == expected
    wrapper(x, training=True)
    assert len(calls) == 2 * expected
    # Every frame once: the calls' leading axes add up to batch * steps.
    frames = [int(np.prod(shape[: len(shape) - len(inner_shape)])) for shape in calls]
    assert sum(frames) == 2 * x.shape[0] * steps


def _calls_per_wrapper_call(wrapper, shape):
    """1, or the number of groups of steps when the decision runs the fold in groups."""
    decision = wrapper.decision
    batch, steps = shape[:2]
    if decision.group_frames is not None:
        per_group = _strategy.steps_per_group(batch, steps, decision.group_frames)
    elif decision.group_elements is not None:
        per_group = _strategy.steps_below(batch, steps, decision.group_elements, shape[2:])
    else:
        return 1
    count = -(-steps // per_group)
    assert count <= min(steps, _strategy.MAX_GROUPS)
    return count


@pytest.mark.parametrize("kind", sorted(INNER))
def test_inner_layer_is_called_once_in_a_model_with_a_dynamic_time_axis(kind):
    factory, inner_shape = INNER[kind]
    inner = factory()
    inputs = keras.Input((None, *inner_shape))
    wrapper = TimeDistributed(inner)
    model = keras.Model(inputs, wrapper(inputs))
    calls = count_calls(inner)
    for steps in STEPS:
        before = len(calls)
        x = _input(steps, inner_shape)
        model(x)
        assert len(calls) - before == _calls_per_wrapper_call(wrapper, x.shape), steps


@pytest.mark.parametrize("steps", STEPS)
def test_stock_wrapper_calls_the_inner_layer_once_per_step(steps):
    """The counter sees a per-step loop: stock Keras loops over a static time axis."""
    inner = layers.Conv1D(3, 2)
    wrapper = layers.TimeDistributed(inner)
    x = _input(steps, (6, 4))
    wrapper.build(x.shape)
    calls = count_calls(inner)
    wrapper(x)
    assert len(calls) == steps


@pytest.mark.parametrize("steps", STEPS)
def test_time_distributed_dense_runs_one_matmul_whatever_the_steps(steps, monkeypatch):
    layer = TimeDistributedDense(3)
    x = _input(steps, (4,))
    layer.build(x.shape)
    shapes = []
    matmul = sys.modules[keras.layers.Dense.__module__].ops.matmul

    def counted(a, b):
        shapes.append(tuple(a.shape))
        return matmul(a, b)

    # TimeDistributedDense runs Dense's own `call`, which reaches `matmul`
    # through the `ops` module its file imported, not through `keras.ops`.
    dense_ops = sys.modules[keras.layers.Dense.__module__].ops
    monkeypatch.setattr(dense_ops, "matmul", counted)
    layer(x)
    assert shapes == [(2, steps, 4)]


def _equation_count(jaxpr):
    """Equations in `jaxpr`, those of nested programs (pjit, scan, ...) included."""
    total = 0
    for equation in jaxpr.eqns:
        total += 1
        for param in equation.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                # A ClosedJaxpr holds its Jaxpr as `.jaxpr`; a Jaxpr has `.eqns`.
                sub = getattr(sub, "jaxpr", sub)
                if hasattr(sub, "eqns"):
                    total += _equation_count(sub)
    return total


def _program_size(layer, inner_shape, steps):
    import jax

    x = _input(steps, inner_shape)
    layer.build(x.shape)
    return _equation_count(jax.make_jaxpr(lambda v: layer(v))(x).jaxpr)


FOLDED = {
    "TimeDistributedDense": (lambda: TimeDistributedDense(3), (4,)),
    **{
        f"TimeDistributed({kind})": (functools.partial(lambda f: TimeDistributed(f()), f), shape)
        for kind, (f, shape) in INNER.items()
    },
}


@pytest.mark.backend("jax")
@pytest.mark.parametrize("name", sorted(FOLDED))
def test_traced_program_has_the_same_size_at_10_and_1000_steps(name):
    factory, inner_shape = FOLDED[name]
    layer = factory()
    # Groups of steps, where the decision takes them, stop growing at MAX_GROUPS
    # groups: 2048 and 4096 steps of 2 frames are 64 groups each.
    decision = _decision(layer, inner_shape) if isinstance(layer, TimeDistributed) else None
    grouped = decision is not None and (decision.group_frames or decision.group_elements)
    lengths = (2048, 4096) if grouped else (10, 1000)
    sizes = [_program_size(factory(), inner_shape, steps) for steps in lengths]
    assert sizes[0] == sizes[1]
    assert sizes[0] > 0


def _decision(wrapper, inner_shape):
    wrapper.build((2, 4, *inner_shape))
    return wrapper.decision


@pytest.mark.backend("jax")
def test_stock_traced_program_grows_with_the_steps():
    """The equation count sees a loop: stock's program grows with T."""
    sizes = {
        steps: _program_size(layers.TimeDistributed(layers.Conv1D(3, 2)), (6, 4), steps)
        for steps in (10, 100)
    }
    assert sizes[100] > 5 * sizes[10]
