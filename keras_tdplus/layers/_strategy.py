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

Everywhere else (TensorFlow, and every layer without a convolution) the fold
keeps one call. On GPUs and TPUs, which we cannot measure here, the fold is
kept: their convolutions are fastest on large batches.
"""

import keras

__all__ = ["GROUP_FRAMES", "MAX_GROUPS", "group_frames", "steps_per_group"]

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


def steps_per_group(batch, steps, frames):
    """How many steps each call gets: `frames // batch`, at least 1, at most `steps`.

    Past `MAX_GROUPS` groups the groups grow, so the number of calls stays bounded.
    """
    per_group = max(1, frames // max(batch, 1))
    return min(steps, max(per_group, -(-steps // MAX_GROUPS)))
