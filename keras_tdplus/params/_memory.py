"""What training holds in memory: weights, gradients, optimizer slots and activations."""

import dataclasses

import keras

__all__ = ["MemoryEstimate", "dtype_bytes", "memory_of"]

_BYTES = {
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "int32": 4,
    "int64": 8,
    "bool": 1,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
}

# Keras' optimizers by lowercase name: the slots each builds per trainable variable, read from
# the optimizer's config. Each slot is a variable of its weight's shape and dtype.
_SLOTS = {
    "sgd": lambda o: int(bool(o.get("momentum"))),
    "adam": lambda o: 2 + int(bool(o.get("amsgrad"))),
    "adamw": lambda o: 2 + int(bool(o.get("amsgrad"))),
    "adamax": lambda o: 2,
    "nadam": lambda o: 2,
    "rmsprop": lambda o: 1 + int(bool(o.get("momentum"))) + int(bool(o.get("centered"))),
    "adagrad": lambda o: 1,
    "adadelta": lambda o: 2,
    "ftrl": lambda o: 2,
    "lion": lambda o: 1,
}


def dtype_bytes(dtype):
    """The bytes of one element of `dtype`; a clear error for a dtype this table lacks."""
    name = str(dtype)
    if name not in _BYTES:
        raise ValueError(
            f"No element size known for dtype {name!r}. Known dtypes: {', '.join(_BYTES)}"
        )
    return _BYTES[name]


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """What training a model holds, in bytes (see `keras_tdplus.estimate_memory`).

    Attributes:
        weights: Every variable of the model (`model.weights`).
        gradients: One gradient per trainable weight.
        optimizer: The optimizer's variables once built: its slots and its
            own counters (`optimizer.variables`).
        activations: Every layer call's output at `batch_size`, in the
            layer's compute dtype (an upper bound on what a forward pass
            keeps for the backward one).
        inputs: The model's inputs at `batch_size`.
        batch_size: The batch counted for.
        optimizer_name: The optimizer counted, or None for inference.
        total: The sum of the above.

    Example:

    >>> import keras
    >>> import keras_tdplus as tdp
    >>> model = keras.Sequential([keras.Input((10, 4)), keras.layers.Dense(8)])
    >>> memory = tdp.estimate_memory(model, batch_size=2, optimizer="sgd")
    >>> memory.weights, memory.gradients, memory.optimizer, memory.activations, memory.inputs
    (160, 160, 8, 640, 320)
    >>> memory.total
    1288
    """

    weights: int
    gradients: int
    optimizer: int
    activations: int
    inputs: int
    batch_size: int
    optimizer_name: object = None

    @property
    def total(self):
        return self.weights + self.gradients + self.optimizer + self.activations + self.inputs

    def __str__(self):
        parts = [
            ("Weights", self.weights),
            ("Gradients", self.gradients),
            (f"Optimizer ({self.optimizer_name or 'none'})", self.optimizer),
            (f"Activations (batch {self.batch_size})", self.activations),
            (f"Inputs (batch {self.batch_size})", self.inputs),
            ("Total", self.total),
        ]
        width = max(len(name) for name, _ in parts)
        return "\n".join(
            f" {name + ':':<{width + 1}} {size:>15,} bytes ({_mib(size)})" for name, size in parts
        )

    def to_dict(self):
        """A JSON-serializable dict of every figure, in bytes."""
        return {
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "activations": self.activations,
            "inputs": self.inputs,
            "total": self.total,
            "batch_size": self.batch_size,
            "optimizer_name": self.optimizer_name,
        }


def _mib(size):
    return f"{size / 2**20:,.2f} MiB"


def memory_of(table, batch_size, optimizer):
    """The `MemoryEstimate` of a table counted with costs (FLOPs and activations)."""
    weights = sum(w.size * dtype_bytes(w.dtype) for w in table.weights)
    trainable = [w for w in table.weights if w.trainable and table.model_trainable]
    gradients = sum(w.size * dtype_bytes(w.dtype) for w in trainable)
    name, slots, scalars = _optimizer(optimizer, trainable)
    return MemoryEstimate(
        weights=weights,
        gradients=0 if name is None else gradients,
        optimizer=slots * gradients + scalars,
        activations=sum(elements * dtype_bytes(dtype) for dtype, elements in table.activations),
        inputs=sum(elements * dtype_bytes(dtype) for dtype, elements in table.inputs),
        batch_size=batch_size,
        optimizer_name=name,
    )


def _optimizer(optimizer, trainable):
    """`(name, slots per trainable variable, bytes of the optimizer's own variables)`."""
    if optimizer is None:
        return None, 0, 0
    extra = 0
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        # Its own iteration, learning rate, step counter and dynamic scale: 4 bytes each.
        extra, optimizer = 16, optimizer.inner_optimizer
    if isinstance(optimizer, str):
        name, config = optimizer.lower().replace("_", ""), {}
    elif isinstance(optimizer, keras.optimizers.Optimizer):
        name, config = type(optimizer).__name__.lower(), optimizer.get_config()
    else:
        name, config = None, {}
    if name not in _SLOTS:
        raise ValueError(
            "Received an invalid value for `optimizer`, expected None, one of "
            f"{', '.join(repr(n) for n in _SLOTS)} or a keras.optimizers instance of one of "
            f"those classes. Received: optimizer={optimizer!r}"
        )
    slots = _SLOTS[name](config) + int(bool(config.get("use_ema")))
    if config.get("gradient_accumulation_steps"):
        slots += 1
    # The iteration counter (int32) and, unless a schedule sets it, the learning rate (float32).
    scalars = 4 + (0 if isinstance(config.get("learning_rate"), dict) else 4)
    if name == "nadam" and trainable:
        scalars += dtype_bytes(trainable[0].dtype)  # its running momentum product
    return (
        type(optimizer).__name__ if not isinstance(optimizer, str) else name,
        slots,
        scalars + extra,
    )
