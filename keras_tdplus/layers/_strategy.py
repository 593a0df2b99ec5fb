"""How a folded inner layer is called: once on every frame, or on groups of steps.

Folding `(batch, time, ...)` into one call on `batch * time` frames is the
fastest way to run a per-sample layer on every backend and device measured
(`benchmarks/fold_vs_stock.py`), with one exception: convolutions on XLA's
CPU backend (JAX on a CPU). There, once a convolution's batch passes about
a hundred frames, XLA hands the gradient of its kernel, a convolution whose
window is the whole output map and whose reduction runs over every frame,
to a library kernel (YNNPACK) that is several times slower per frame than
the Eigen kernel it uses for small batches: a training step of a Conv2D
frame encoder on 256 folded frames took twice as long as Keras' loop of 16
calls of 16 frames. Inside a `scan` or `map` over groups the same gradient
keeps its raw layout and runs on XLA's generic loop emitter, over thirty
times slower still, so a compiled loop over groups is no way out.

The strategy taken there instead: call the inner layer on groups of whole
steps, each of at most `GROUP_FRAMES` frames (one step at least), and join
the groups along the time axis. With one step per group this is Keras' own
loop, so it is never more calls than the loop makes, and at most
`MAX_GROUPS`: past that the groups grow instead, so a long sequence keeps a
program of bounded size. The math is the fold's: every frame is computed
alone, whatever group it is in.

Everywhere else, and for every layer without a convolution, the fold keeps
one call. On GPUs and TPUs, which we cannot measure here, the fold is kept
(their convolutions are fastest on large batches).
"""

import keras

__all__ = ["GROUP_FRAMES", "MAX_GROUPS", "group_frames", "steps_per_group"]

GROUP_FRAMES = 16
"""The most frames one call of a grouped inner layer gets (one step may have more)."""

MAX_GROUPS = 64
"""The most calls a grouped inner layer gets, however many steps there are."""

_CONVOLUTION_PREFIXES = ("Conv", "DepthwiseConv", "SeparableConv")


def _convolutions(layer):
    """The layers nested in `layer` (itself included) that run a convolution of Keras'."""
    return [
        sub
        for sub in layer._flatten_layers(include_self=True, recursive=True)
        if isinstance(sub, keras.layers.Layer)
        and any(
            cls.__name__.startswith(_CONVOLUTION_PREFIXES)
            and (cls.__module__ == "keras" or cls.__module__.startswith("keras."))
            for cls in type(sub).__mro__
        )
    ]


def _platform():
    """The device kind the backend computes on by default: "cpu", "gpu", "tpu", ..."""
    if keras.backend.backend() != "jax":
        return None
    import jax

    return jax.default_backend()


def group_frames(layer):
    """`(frames, reason)`: the group size for a folded `layer`, or `(None, None)` for one call.

    Decided once, when the wrapper is built: by the kind of the layers
    nested in `layer`, the backend and the device kind.
    """
    convolutions = _convolutions(layer)
    if not convolutions or _platform() != "cpu":
        return None, None
    return GROUP_FRAMES, (
        f"on XLA's CPU backend '{convolutions[0].name}' ({type(convolutions[0]).__name__}) "
        f"runs on groups of whole steps of at most {GROUP_FRAMES} frames (at most "
        f"{MAX_GROUPS} groups): its kernel gradient is slower per frame on a larger batch"
    )


def steps_per_group(batch, steps, frames):
    """How many steps each call gets: `frames // batch`, at least 1, at most `steps`.

    Past `MAX_GROUPS` groups the groups grow, so the number of calls stays bounded.
    """
    per_group = max(1, frames // max(batch, 1))
    return min(steps, max(per_group, -(-steps // MAX_GROUPS)))
