"""What the package knows of Keras' classes, in one place for every feature.

Which class names are models and which recurrent layers, how to tell a Functional
model from a subclassed one, and the constructor call that makes a recurrent layer
return its sequence: the fix every shape message gives for a lost time axis.
"""

import keras

from keras_tdplus._messages import format_shape

__all__ = [
    "MODEL_CLASSES",
    "RECURRENT_CLASSES",
    "is_functional",
    "is_model_config",
    "return_sequences_call",
]

# Model classes as a saved config names them (`Model` is a Functional saved by old Keras).
MODEL_CLASSES = ("Sequential", "Functional", "Model")

# Layers with `return_sequences` (Bidirectional takes it from the layer it wraps).
RECURRENT_CLASSES = frozenset(
    {"RNN", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"}
)


def is_functional(model):
    """True for a model built from a graph of inputs and outputs (a subclass of one too).

    A subclassed model defines `call` itself and keeps no graph of nodes.
    """
    return type(model).call is keras.Model.call or hasattr(model, "_nodes_by_depth")


def is_model_config(config):
    """True for the inner config of a Sequential or Functional model."""
    return isinstance(config, dict) and isinstance(config.get("layers"), list)


def return_sequences_call(class_name, config):
    """`LSTM(5, return_sequences=True)`: the layer of `config` returning its sequence.

    A `Bidirectional` config gives the call with its wrapped layer inside.
    """
    if class_name == "Bidirectional":
        inner = config.get("layer") or {}
        inner_config = inner.get("config") if isinstance(inner.get("config"), dict) else {}
        return (
            f"Bidirectional({return_sequences_call(inner.get('class_name', 'LSTM'), inner_config)})"
        )
    if "filters" in config:
        kernel = config.get("kernel_size", "...")
        kernel = format_shape(kernel) if isinstance(kernel, (list, tuple)) else kernel
        return f"{class_name}({config['filters']}, {kernel}, return_sequences=True)"
    if "units" in config:
        return f"{class_name}({config['units']}, return_sequences=True)"
    return f"{class_name}(cell, return_sequences=True)"
