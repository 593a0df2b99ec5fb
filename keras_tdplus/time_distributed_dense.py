"""A Dense layer applied to every time step as one fused contraction."""

import keras
import numpy as np
from keras import activations, constraints, initializers, ops, regularizers

from keras_tdplus._time_axis import require_time_axis


@keras.saving.register_keras_serializable(package="keras_tdplus")
class TimeDistributedDense(keras.layers.Layer):
    """Densely-connected layer applied independently to every time step.

    Computes `output = activation(dot(input, kernel) + bias)` for each time step
    of a `(batch, time, ..., features)` input with one contraction over the last
    axis, so there is no per-step loop and no per-step graph: the compiled
    program is the same size at `T=10` and `T=10_000`. The weights are a
    `kernel` of shape `(features, units)` and a `bias` of shape `(units,)`,
    exactly those of `keras.layers.TimeDistributed(keras.layers.Dense(units))`,
    so `set_weights` works from one to the other.

    The incoming time mask (from `Masking` or `Embedding(mask_zero=True)`) is
    passed on unchanged: masked steps are still computed, and the layers after
    this one (an LSTM, a masked loss) skip them.

    Args:
        units: Positive integer, size of the output's last axis.
        activation: Activation function to use. If `None`, none is applied.
        use_bias: Whether the layer adds a bias vector.
        kernel_initializer: Initializer for the `kernel` weights matrix.
        bias_initializer: Initializer for the bias vector.
        kernel_regularizer: Regularizer applied to the `kernel`.
        bias_regularizer: Regularizer applied to the bias vector.
        activity_regularizer: Regularizer applied to the output.
        kernel_constraint: Constraint applied to the `kernel`.
        bias_constraint: Constraint applied to the bias vector.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: A tensor of shape `(batch, time, ..., features)`, rank >= 3.
        mask: Optional boolean mask of shape `(batch, time)`; returned as is.

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

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(
                "Received an invalid value for `units`, expected a positive "
                f"integer. Received: units={units!r}"
            )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = keras.InputSpec(min_ndim=3)
        self.supports_masking = True

    def __call__(self, inputs, *args, **kwargs):
        # Checked before Keras' own InputSpec so a missing time axis gets our
        # message, which can name the recurrent layer that dropped it.
        require_time_axis(self, inputs)
        dtype = getattr(inputs, "dtype", None)
        if isinstance(dtype, np.dtype) and dtype.kind not in "biuf":
            raise TypeError(
                f"Layer '{self.name}' (TimeDistributedDense) needs numeric `inputs`. "
                f"Received: inputs of dtype {dtype}"
            )
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
        self.kernel = self.add_weight(
            name="kernel",
            shape=(features, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.InputSpec(min_ndim=3, axes={-1: features})

    def call(self, inputs, mask=None):
        # Every step is computed, masked or not; the mask only travels on
        # (see `compute_mask`), as it does through Dense.
        del mask
        outputs = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        base_config = super().get_config()
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
        return {**base_config, **config}
