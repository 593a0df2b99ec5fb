"""Swap stock `TimeDistributed` layers in a model for the fast ones."""

import keras
from keras import layers

from keras_tdplus._kinds import is_functional
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
    if type(dense) is not layers.Dense:
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


def _clone_layer(layer):
    if type(layer) is layers.TimeDistributed:
        fused = _as_time_distributed_dense(layer)
        if fused is not None:
            return fused
        inner = layer.layer.__class__.from_config(layer.layer.get_config())
        return TimeDistributed(
            inner, name=layer.name, dtype=layer.dtype_policy, trainable=layer.trainable
        )
    return layer.__class__.from_config(layer.get_config())


def convert_time_distributed(model):
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
    pairs = []

    def clone(layer):
        new = _clone_layer(layer)
        pairs.append((layer, new))
        return new

    converted = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for old, new in pairs:
        # A functional graph can hold plain ops (say, from a mask); no state.
        if isinstance(old, layers.Layer):
            _copy_state(old, new)
    return converted


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
