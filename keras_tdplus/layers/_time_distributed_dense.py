"""A Dense layer applied to every time step as one fused contraction."""

import keras
from keras import layers

from keras_tdplus.layers import _fold_rule
from keras_tdplus.layers._time_axis import check_mask, require_time_axis

__all__ = ["TimeDistributedDense"]


@keras.saving.register_keras_serializable(package="keras_tdplus")
class TimeDistributedDense(layers.Dense):
    """Densely-connected layer applied independently to every time step.

    Computes `output = activation(dot(input, kernel) + bias)` for each time step
    of a `(batch, time, ..., features)` input with one contraction over the last
    axis, so there is no per-step loop and no per-step graph: the compiled
    program is the same size at `T=10` and `T=10_000`. The weights are a
    `kernel` of shape `(features, units)` and a `bias` of shape `(units,)`,
    exactly those of `keras.layers.TimeDistributed(keras.layers.Dense(units))`,
    so `set_weights` works from one to the other.

    It is a `keras.layers.Dense` (a subclass), so everything Dense does works
    here too, with the same arguments, config and saved variables: LoRA
    (`lora_rank=`, `enable_lora`), quantization (`quantize("int8")`, `"int4"`,
    `"float8"`, `model.quantize(...)`, quantized dtype policies such as
    `dtype="int8_from_float32"`), and the `kernel` property. What it adds is
    the sequence contract: the input must have a time axis, and a mask must
    match the input's batch and time axes.

    The incoming time mask (from `Masking` or `Embedding(mask_zero=True)`) is
    passed on unchanged: masked steps are still computed, and the layers after
    this one (an LSTM, a masked loss) skip them.

    Args:
        units: Positive integer, size of the output's last axis.
        **kwargs: Every other argument of `keras.layers.Dense`, with the same
            meaning: `activation`, `use_bias`, `kernel_initializer`,
            `bias_initializer`, `kernel_regularizer`, `bias_regularizer`,
            `activity_regularizer`, `kernel_constraint`, `bias_constraint`,
            `lora_rank` (if set, the kernel is frozen and a trainable low-rank
            delta of this rank is added to it), `lora_alpha` (scales the LoRA
            delta by `lora_alpha / lora_rank`; defaults to `lora_rank`) and
            `quantization_config`; and the base layer keyword arguments, such
            as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of shape `(batch, time, ..., features)`, rank >= 3.
        training: Python boolean; unused, accepted as `Dense` does.
        mask: Optional boolean mask of shape `(batch, time, ...)`; checked
            against the input and returned as is.

    Input shape:
        N-D tensor with shape `(batch_size, time, ..., features)`, N >= 3. A
        2D input raises `SequenceShapeError`; when it comes from a recurrent
        layer, the message says to set `return_sequences=True` on it.

    Output shape:
        N-D tensor with shape `(batch_size, time, ..., units)`.

    Example:

    >>> x = keras.ops.ones((2, 5, 3))
    >>> TimeDistributedDense(4)(x).shape
    (2, 5, 4)
    """

    def __init__(self, units, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(
                "Received an invalid value for `units`, expected a positive "
                f"integer. Received: units={units!r}"
            )
        super().__init__(units, **kwargs)
        self.input_spec = keras.InputSpec(min_ndim=3)

    def __call__(self, inputs, *args, **kwargs):
        # Checked before Keras' own InputSpec so a missing time axis gets our
        # message, which can name the recurrent layer that dropped it.
        require_time_axis(self, inputs)
        dtype = getattr(inputs, "dtype", None)
        if dtype is not None and not _is_numeric(dtype):
            raise TypeError(
                f"Layer '{self.name}' (TimeDistributedDense) needs numeric `inputs`. "
                f"Received: inputs of dtype {dtype}"
            )
        if kwargs.get("mask") is not None:
            check_mask(self, inputs, kwargs["mask"])
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape):
        if len(input_shape) < 3:
            require_time_axis(self, keras.KerasTensor(input_shape))
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributedDense) needs a known "
                f"feature axis (the last one). Received: input_shape={tuple(input_shape)}"
            )
        lora_alpha = self.lora_alpha
        super().build(input_shape)
        if self.lora_enabled:
            # Dense's build enables LoRA with the rank alone, which resets
            # `lora_alpha` to the rank; keep the one the user asked for.
            self.lora_alpha = lora_alpha
        self.input_spec = keras.InputSpec(min_ndim=3, axes={-1: features})

    def call(self, inputs, training=None, mask=None):
        # Every step is computed, masked or not; the mask only travels on
        # (`compute_mask` returns it), as it does through Dense.
        if mask is not None:
            check_mask(self, inputs, mask)
        return super().call(inputs, training=training)

    def quantized_call(self, inputs, training=None, mask=None):
        if mask is not None:
            check_mask(self, inputs, mask)
        return super().quantized_call(inputs, training=training)

    def quantize(self, mode=None, type_check=True, config=None):
        # Dense refuses subclasses unless `type_check=False`, because a
        # subclass could compute something else; this one computes Dense.
        del type_check
        super().quantize(mode, type_check=False, config=config)


def _is_numeric(dtype):
    # NumPy's bfloat16 (from ml_dtypes) has kind 'V', so ask Keras instead.
    try:
        name = keras.backend.standardize_dtype(dtype)
    except (ValueError, TypeError):
        return False
    return name == "bool" or keras.backend.is_float_dtype(name) or keras.backend.is_int_dtype(name)


# Nested in a `TimeDistributed`, it is judged as `Dense` is.
_fold_rule.register_package_class(TimeDistributedDense, _fold_rule.dense)
