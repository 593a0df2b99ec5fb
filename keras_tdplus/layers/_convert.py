"""Swap stock `TimeDistributed` layers in a model for the fast ones."""

import collections

import keras
from keras import layers, tree

from keras_tdplus._kinds import is_functional
from keras_tdplus.layers._fold_rule import per_position_activation
from keras_tdplus.layers._masked_steps import check_skip_masked_steps
from keras_tdplus.layers._time_distributed import TimeDistributed
from keras_tdplus.layers._time_distributed_dense import TimeDistributedDense

__all__ = ["convert_time_distributed"]


def _as_time_distributed_dense(wrapper):
    """A TimeDistributedDense equal to `wrapper(Dense)`, or None if it wraps something else.

    TimeDistributedDense is a Dense, so the Dense's whole config carries over:
    LoRA rank and alpha, quantization config, and a quantized dtype policy,
    which makes it build the same quantized variables for `set_weights`.
    """
    dense = wrapper.layer
    # TimeDistributedDense applies the activation to `(batch, time, units)`:
    # the same as per step only for a per-position one.
    if type(dense) is not layers.Dense or not per_position_activation(dense.activation):
        return None
    config = dense.get_config()
    # Keras' wrapper computes in its own dtype; a quantized Dense keeps its
    # quantized policy, which names the same compute dtype.
    policy = dense.dtype_policy if dense.quantization_mode else wrapper.dtype_policy
    config.update(
        name=wrapper.name,
        dtype=keras.dtype_policies.serialize(policy),
        trainable=wrapper.trainable and dense.trainable,
    )
    return TimeDistributedDense.from_config(config)


class _Cloner:
    """Clones one model's layers, each once: a layer used in several places stays one layer.

    Keras' `clone_model` clones each layer of the graph once, but a layer
    inside a stock `TimeDistributed` is not in the graph: two wrappers around
    one `Dense`, or a wrapper around a layer also called directly, would get
    a copy each, and the tie would be lost.
    """

    def __init__(self, model, skip_masked_steps):
        self.skip_masked_steps = skip_masked_steps
        self.uses = _uses(model)
        self.clones = {}
        self.pairs = []
        self.new_to_old = {}

    def __call__(self, layer):
        new = self.clones.get(id(layer))
        if new is None:
            new = self._clone(layer)
            self.clones[id(layer)] = new
            self.pairs.append((layer, new))
        self.new_to_old[id(new)] = layer
        return new

    def _clone(self, layer):
        if type(layer) is not layers.TimeDistributed:
            config = layer.get_config()
            if self.skip_masked_steps and isinstance(layer, TimeDistributed):
                config["skip_masked_steps"] = True
            return layer.__class__.from_config(config)
        shared = self.uses[id(layer.layer)] > 1
        fused = None if shared else _as_time_distributed_dense(layer)
        if fused is not None:
            return fused
        inner = self.clones.get(id(layer.layer))
        if inner is None:
            inner = layer.layer.__class__.from_config(layer.layer.get_config())
            self.clones[id(layer.layer)] = inner
            self.pairs.append((layer.layer, inner))
        return TimeDistributed(
            inner,
            skip_masked_steps=self.skip_masked_steps,
            name=layer.name,
            dtype=layer.dtype_policy,
            trainable=layer.trainable,
        )

    def call(self, new, *args, **kwargs):
        """Calls `new` as its original was called, but with masks from the new layers.

        A Functional model records the mask Keras passed to each layer as one
        of its arguments; replayed as is, a layer after a converted wrapper
        would get the mask the stock wrapper passed on (the inner
        `Embedding`'s, say), not the new wrapper's. Where every call of the
        original took the mask its input carried, the argument is dropped,
        and Keras takes it from the new input again.
        """
        old = self.new_to_old.get(id(new))
        if kwargs.get("mask") is not None and old is not None and _mask_always_implied(old):
            kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
        return new(*args, **kwargs)


def convert_time_distributed(model, skip_masked_steps=False):
    """Returns a copy of `model` with every stock `TimeDistributed` replaced.

    Each `keras.layers.TimeDistributed(Dense(...))` becomes a
    `TimeDistributedDense` (quantized and LoRA ones too, state kept) and
    every other `keras.layers.TimeDistributed` becomes a
    `keras_tdplus.TimeDistributed`, keeping its name. Weights are
    copied, so the new model predicts what the old one did (within float
    rounding) and trains faster. Nested Sequential and Functional models are
    converted too. The input model is not changed.

    Args:
        model: A built Sequential or Functional `keras.Model`.
        skip_masked_steps: When True, every `keras_tdplus.TimeDistributed`
            of the result (the converted ones and any already in `model`)
            calls its inner layer on the valid steps only and outputs zeros
            at masked steps (see `TimeDistributed`). A `TimeDistributed(Dense)`
            still becomes a `TimeDistributedDense`, which computes every
            step: a Dense costs less than gathering the steps it would skip.

    Returns:
        A new model of the same kind, with the weights of `model`.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((5, 1)),
    ...     keras.layers.LSTM(5, return_sequences=True),
    ...     keras.layers.TimeDistributed(keras.layers.Dense(1)),
    ... ])
    >>> fast = convert_time_distributed(model)
    >>> type(fast.layers[-1]).__name__, fast.count_params()
    ('TimeDistributedDense', 146)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Received an invalid value for `model`, expected a Sequential or "
            f"Functional `keras.Model`. Received: model of type {type(model).__name__}"
        )
    if not isinstance(model, keras.Sequential) and not is_functional(model):
        raise TypeError(
            "Received a subclassed model; `convert_time_distributed` can only rebuild "
            "Sequential and Functional models. Fix: replace the layers in your "
            "subclass by hand, `keras_tdplus.TimeDistributedDense` for "
            "`TimeDistributed(Dense)`. Received: model of type "
            f"{type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built, so it has no weights to copy. "
            "Fix: start it with `keras.Input(shape)` or call `model.build(input_shape)` "
            "first."
        )
    check_skip_masked_steps(skip_masked_steps)
    cloner = _Cloner(model, skip_masked_steps)
    call_function = None if isinstance(model, keras.Sequential) else cloner.call
    converted = keras.models.clone_model(
        model, clone_function=cloner, call_function=call_function, recursive=True
    )
    for old, new in cloner.pairs:
        # A functional graph can hold plain ops (say, from a mask); no state.
        if isinstance(old, layers.Layer):
            _copy_state(old, new)
    return converted


def _uses(model):
    """How many places each layer of `model` is used in: the models holding it, the wrappers."""
    uses = collections.Counter()

    def walk(container):
        for layer in container.layers:
            uses[id(layer)] += 1
            if isinstance(layer, layers.Wrapper):
                uses[id(layer.layer)] += 1
            if isinstance(layer, keras.Model):
                walk(layer)

    walk(model)
    return uses


def _keras_mask(x):
    return getattr(x, "_keras_mask", None)


def _mask_always_implied(layer):
    """True when every recorded call of `layer` got the mask its first input carried."""
    for node in getattr(layer, "_inbound_nodes", []):
        arguments = getattr(node, "arguments", None)
        if arguments is None or not arguments.args:
            return False
        mask = arguments.kwargs.get("mask")
        if mask is None:
            continue
        implied = tree.flatten(tree.map_structure(_keras_mask, arguments.args[0]))
        given = tree.flatten(mask)
        if len(implied) != len(given):
            return False
        if any(a is not b for a, b in zip(implied, given, strict=True)):
            return False
    return True


def _copy_state(old, new):
    """Every variable of `old` into `new`: by name where the names are unique.

    A quantized layer rebuilt from its config creates its variables in
    another order than `quantize()` left them (float8 scales first), so
    copying by position would mix them up; the names are the same.
    """
    old_vars, new_vars = old.weights, new.weights
    old_names = [v.name for v in old_vars]
    if len(set(old_names)) == len(old_names) and sorted(old_names) == sorted(
        v.name for v in new_vars
    ):
        by_name = dict(zip(old_names, old_vars, strict=True))
        for variable in new_vars:
            # A NumPy copy: JAX may donate the old buffer in a later train step.
            variable.assign(keras.ops.convert_to_numpy(by_name[variable.name]))
    else:
        new.set_weights(old.get_weights())
