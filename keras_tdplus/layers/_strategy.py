"""How a folded inner layer is called: once on every frame, or on groups of steps.

Folding `(batch, time, ...)` into one call on `batch * time` frames is the
fastest way to run a per-sample layer on every backend and device measured
(`benchmarks/fold_vs_stock.py`), with one exception: convolutions on a CPU
under JAX and torch, where the cost per frame of a convolution grows with
the batch it is called on.

- JAX (XLA's CPU backend): the gradient of a convolution's kernel is a
  convolution whose window is the whole output map and whose reduction runs
  over every frame, so the frames are its input features. XLA hands a 2D
  convolution with more than 16 features to a library kernel (YNNPACK), which
  for this shape is several times slower per frame than the Eigen kernel it
  uses below that: a training step of a Conv2D frame encoder on 256 folded
  frames took twice as long as Keras' loop of 16 calls of 16 frames. Inside
  a `scan` or `map` over groups the same gradient keeps its raw layout and
  runs on XLA's generic loop emitter, about forty times slower than the same
  groups unrolled, so a compiled loop over groups is no way out.
- torch (CPU): a Conv2D's training step costs 51 us a frame on 64 frames,
  71 on 512 and 120 on 4096, as the call's tensors outgrow the caches; a
  Conv2D stack folded over 64 x 64 frames trained at 1.45x Keras' loop.

The strategy taken there instead: call the inner layer on groups of whole
steps, each of at most `GROUP_FRAMES[backend]` frames (one step at least),
and join the groups along the time axis. With one step per group this is
Keras' own loop, so it is never more calls than the loop makes, and at most
`MAX_GROUPS`: past that the groups grow instead, so a long sequence keeps a
program of bounded size. The math is the fold's: every frame is computed
alone, whatever group it is in.

A pooling layer (`MaxPooling*D`, `AveragePooling*D`) with no convolution
beside it, on a CPU under JAX, has a strategy of its own. XLA hands a
pooling window whose input or output has `POOLING_ELEMENTS` elements or more
to YNNPACK, which for frames of a few channels is slower per frame than the
loop XLA writes itself below that (16x16 frames of 3 channels: 1.6 us a frame
against 1.05; with 8 or more channels YNNPACK is the faster). Keras' loop
calls the pooling on `batch` frames at a time, below the line at small
batches; one folded call on every frame is far above it. So the fold runs
on groups of whole steps that stay below the line, as the loop's calls do,
and in one call when a single step is already above it, where the loop's
calls are too. Its frames then never meet a slower kernel than the loop's.

A `BatchNormalization` in training normalizes by every frame of its call: the
fold's documented statistics are those of all `batch * time` frames, which
groups would split. So an inner layer holding one runs in one call in
training, whatever the backend (`batch_statistics`); in inference, where it
uses its moving statistics, the groups are kept.

Everywhere else (TensorFlow, and every layer without a convolution or a
pooling window) the fold keeps one call. On GPUs and TPUs, which we cannot
measure here, the fold is kept: their convolutions are fastest on large
batches.
"""

import math

import keras

__all__ = [
    "GROUP_FRAMES",
    "MAX_GROUPS",
    "POOLING_ELEMENTS",
    "batch_statistics",
    "group_elements",
    "group_frames",
    "steps_below",
    "steps_per_group",
]

GROUP_FRAMES = {"jax": 16, "torch": 512}
"""The most frames one call of a grouped inner layer gets, per backend (one step may have more).

Measured on the benchmark's convolution families (2 CPU cores): under JAX
the kernel gradient stays on Eigen's path up to 16 frames (XLA's limit for a
2D convolution's features, past which it goes to YNNPACK); under
torch, groups of 512 frames were as fast as one call where that won and
1.7x faster than it on 4,096 frames.
"""

MAX_GROUPS = 64
"""The most calls a grouped inner layer gets, however many steps there are."""

POOLING_ELEMENTS = {"jax": 4096}
"""From how many elements of input or output a pooling window leaves the backend's own loop.

XLA's CPU backend (jax 0.10) hands such a reduce-window to YNNPACK
(`kMinElements` in `xla/backends/cpu/ynn_support.cc`).
"""

_CONVOLUTION_PREFIXES = ("Conv", "DepthwiseConv", "SeparableConv")
_POOLING_PREFIXES = ("MaxPooling", "AveragePooling")


def _nested_of_kind(layer, prefixes):
    """The layers nested in `layer` (itself included) of a Keras class named `prefixes...`."""
    return [
        sub
        for sub in layer._flatten_layers(include_self=True, recursive=True)
        if isinstance(sub, keras.layers.Layer)
        and any(
            cls.__name__.startswith(prefixes)
            and (cls.__module__ == "keras" or cls.__module__.startswith("keras."))
            for cls in type(sub).__mro__
        )
    ]


def batch_statistics(layer):
    """The layers nested in `layer` whose training output reads every frame of the call."""
    return _nested_of_kind(layer, ("BatchNormalization",))


def _convolutions(layer):
    """The layers nested in `layer` (itself included) that run a convolution of Keras'."""
    return _nested_of_kind(layer, _CONVOLUTION_PREFIXES)


def _platform(backend):
    """The device kind `backend` computes on by default: "cpu", "gpu", "cuda", "tpu", ..."""
    if backend == "jax":
        import jax

        return jax.default_backend()
    if backend == "torch":
        # Keras places its torch tensors on the device it chose: a new one says which.
        return keras.ops.zeros(()).device.type
    return None


def group_frames(layer):
    """`(frames, reason)`: the group size for a folded `layer`, or `(None, None)` for one call.

    Decided once, when the wrapper is built: by the kind of the layers
    nested in `layer`, the backend and the device kind.
    """
    backend = keras.backend.backend()
    frames = GROUP_FRAMES.get(backend)
    convolutions = _convolutions(layer)
    if frames is None or not convolutions or _platform(backend) != "cpu":
        return None, None
    first = convolutions[0]
    return frames, (
        f"on a CPU under {backend}, '{first.name}' ({type(first).__name__}) runs on groups "
        f"of whole steps of at most {frames} frames (at most {MAX_GROUPS} groups): a "
        "convolution costs more per frame on a larger batch there"
    )


def group_elements(layer):
    """`(elements, reason)`: groups of steps below `elements` input elements, or `(None, None)`.

    For a `layer` that pools with no convolution, on a CPU under JAX; decided
    once, when the wrapper is built, as `group_frames` is.
    """
    backend = keras.backend.backend()
    elements = POOLING_ELEMENTS.get(backend)
    pooling = _nested_of_kind(layer, _POOLING_PREFIXES)
    if elements is None or not pooling or _convolutions(layer) or _platform(backend) != "cpu":
        return None, None
    first = pooling[0]
    return elements, (
        f"on a CPU under {backend}, '{first.name}' ({type(first).__name__}) runs on groups of "
        f"whole steps of fewer than {elements:,} input elements, as Keras' loop calls it at "
        "small batches (in one call where one step has more): a larger pooling window goes "
        "to another kernel there, slower for frames of few channels"
    )


def steps_below(batch, steps, elements, frame_shape):
    """How many steps a call gets to stay below `elements` input elements (`group_elements`).

    `steps` (one call) when a single step already has `elements` or more, or
    when a frame's size is unknown; past `MAX_GROUPS` groups the groups grow.
    """
    if any(not isinstance(d, int) for d in frame_shape):
        return steps
    fit = (elements - 1) // max(batch * math.prod(frame_shape), 1)
    if fit < 1:
        return steps
    return min(steps, max(fit, -(-steps // MAX_GROUPS)))


def steps_per_group(batch, steps, frames):
    """How many steps each call gets: `frames // batch`, at least 1, at most `steps`.

    Past `MAX_GROUPS` groups the groups grow, so the number of calls stays bounded.
    """
    per_group = max(1, frames // max(batch, 1))
    return min(steps, max(per_group, -(-steps // MAX_GROUPS)))
