"""The one rule for what `TimeDistributed` may fold into the batch axis.

Folding `(batch, time, ...)` into `(batch * time, ...)` and calling the inner
layer once is the same math as calling it on every step `x[:, t]` only when
the layer's output for one sample depends on that sample alone, the layer
keeps no state between calls, changes none of its variables while it runs
and adds no loss whose size depends on how many samples a call has. The rule
below decides this once, when the wrapper is built, for the inner layer and
every layer nested in it:

- `IN_PLACE`: the layer acts on each position of the last axis alone
  (`Dense` with a per-position activation, `LayerNormalization(axis=-1)`);
  it is called on the `(batch, time, ...)` input directly, with no reshape.
- `FOLD`: the layer is per sample; one call on the folded batch.
- `PER_STEP`: one call per step in time order, as Keras' own wrapper does.

Keras' classes are judged by class identity (`CLASS_RULES`): a subclass that
overrides `call` is judged as a custom layer, not trusted for its parent's
math. A custom layer folds unless its code adds a loss, assigns its own
non-trainable variables, or cannot be read. A nested activity regularizer
that is a sum over positions (`L1`, `L2`, `L1L2`) folds, scaled by the number
of steps while the folded call runs, so its loss is what the loop sums; any
other runs per step.
"""

import dataclasses
import inspect
import io
import textwrap
import tokenize

import keras
from keras import activations, layers, regularizers

from keras_tdplus.layers import _strategy

__all__ = [
    "CLASS_RULES",
    "CONTAINER",
    "FOLD",
    "FOLD_OPTIONS",
    "IN_PLACE",
    "PACKAGE_RULES",
    "PER_STEP",
    "REFUSED",
    "Decision",
    "ScaledRegularizer",
    "classify",
    "check_fold_option",
    "dense",
    "has_nested_state",
    "per_position_activation",
    "register_package_class",
    "rule_for",
]

IN_PLACE = "in place"
FOLD = "fold"
PER_STEP = "per step"
REFUSED = "refused"

FOLD_OPTIONS = ("auto", "always", "never")


@dataclasses.dataclass(frozen=True)
class Decision:
    """How the wrapper runs its inner layer.

    Attributes:
        mode: `IN_PLACE`, `FOLD` or `PER_STEP`.
        reason: Why, naming the layer that decided it.
        rescaled: Nested layers whose activity regularizer is multiplied by
            the number of steps during a folded call.
        group_frames: For `FOLD`, None to call the inner layer once on every
            frame, or the most frames per call when it runs on groups of whole
            steps instead (`_strategy`: convolutions on a CPU under JAX and torch).
        group_elements: For `FOLD`, None, or the input elements each group of
            whole steps stays below, one call where a step has more
            (`_strategy`: pooling on a CPU under JAX).
        group_in_training: False when the groups are for inference only: a
            nested `BatchNormalization` normalizes by all the frames in training.
    """

    mode: str
    reason: str
    rescaled: tuple = ()
    group_frames: int | None = None
    group_elements: int | None = None
    group_in_training: bool = True


class ScaledRegularizer:
    """`factor * regularizer(x)`: a nested layer's activity loss, as a loop over steps sums it.

    A nested layer divides its activity loss by its output's batch size; in
    a folded call that is `batch * time`, so `time` times the loop's loss per
    step. For a regularizer that sums over positions, `time * loss / (batch *
    time)` is the loop's `sum over steps of loss_t / batch`.
    """

    def __init__(self, regularizer, factor):
        self.regularizer = regularizer
        self.factor = factor

    def __call__(self, x):
        loss = self.regularizer(x)
        return loss * keras.ops.cast(self.factor, loss.dtype)


# Activations that act on each position alone, or over the last axis only
# (softmax and friends by default), by identity: a partial or lambda over
# another axis is not among them.
_PER_POSITION_ACTIVATIONS = frozenset(
    getattr(activations, name)
    for name in (
        "celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish "
        "hard_tanh leaky_relu linear log_sigmoid log_softmax mish relu relu6 selu sigmoid "
        "silu soft_shrink softmax softplus softsign sparse_plus sparse_sigmoid sparsemax "
        "squareplus swish tanh tanh_shrink threshold"
    ).split()
    if hasattr(activations, name)
)

# Regularizers that are a sum over positions: the sum over steps of the loss
# of each step is the loss of the whole sequence.
_SUMS_OVER_POSITIONS = (regularizers.L1, regularizers.L2, regularizers.L1L2)


def per_position_activation(activation):
    """True for an activation known to act on each position alone, or on the last axis only."""
    return activation is None or activation in _PER_POSITION_ACTIVATIONS


def dense(layer):
    """The rule of `Dense`: in place when its activation is a per-position one."""
    if per_position_activation(layer.activation):
        return IN_PLACE, "a matrix product on the last axis, then a per-position activation"
    return FOLD, "its activation is not a known per-position one, so it sees one step at a time"


def _activation(layer):
    if per_position_activation(layer.activation):
        return IN_PLACE, "a per-position activation"
    return FOLD, "its activation is not a known per-position one, so it sees one step at a time"


def _layer_normalization(layer):
    axes = list(layer.axis) if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if axes == [-1]:
        return IN_PLACE, "normalizes each position over the last axis"
    if len(axes) == 1 and axes[0] >= 0:
        # Keras 3.16 builds `axis=-1` into the index of the last axis of the (folded) input.
        return FOLD, (
            f"normalizes each sample over its axis {axes[0]}, an index counted from the "
            "front, which in place would name another axis"
        )
    return FOLD, "normalizes each sample over its own axes"


def _dropout(layer):
    noise_shape = layer.noise_shape
    if noise_shape is None:
        return IN_PLACE, "an independent mask value per position"
    if noise_shape[0] is None:
        return FOLD, "one mask per sample; the folded batch draws one per sample and step"
    return PER_STEP, (
        f"its noise_shape {tuple(noise_shape)} fixes the batch axis, so each step must "
        "draw its own mask of that shape, as Keras' loop does"
    )


def _custom(layer):
    """A layer whose `call` is not Keras' own: fold only what its code shows is safe."""
    names = _own_names(type(layer))
    name = f"custom layer '{layer.name}' ({type(layer).__name__})"
    if names is None:
        return PER_STEP, (
            f"{name}: its source cannot be read, so nothing shows it is per sample "
            "(pass fold='always' if it is)"
        )
    if "add_loss" in names:
        return PER_STEP, (
            f"{name} adds a loss in its code; the loop adds it once per step, with the "
            "size of one step's batch"
        )
    if _own_non_trainable(layer) and names & _ASSIGNS:
        return PER_STEP, (
            f"{name} assigns non-trainable variables in its code; the loop updates them "
            "once per step"
        )
    return FOLD, (
        f"{name} keeps no state and adds no loss: assumed per sample "
        "(pass fold='never' if it mixes samples)"
    )


def _opaque(layer):
    """A Keras layer that runs foreign code (a JAX function, a torch module, a SavedModel)."""
    if _own_non_trainable(layer):
        return PER_STEP, (
            "runs foreign code and holds non-trainable state, which that code may update "
            "once per call"
        )
    return FOLD, "runs foreign code with no non-trainable state: assumed per sample"


def _spectral_normalization(layer):
    return PER_STEP, "updates its power-iteration vector once per call in training"


def _per_sample(reason):
    return lambda layer: (FOLD, reason)


def _per_step(reason):
    return lambda layer: (PER_STEP, reason)


def _refused(reason):
    return lambda layer: (REFUSED, reason)


_CONV = _per_sample("a convolution over each sample's own axes")
_POOL = _per_sample("pools over each sample's own axes")
_SHAPE = _per_sample("rearranges each sample's own axes")
_RNN = _per_sample("runs over each sample's own sequence; folds unless stateful")
_MERGE = _per_sample("combines several inputs sample by sample")
_ATTENTION = _per_sample("attends within each sample")
_ELEMENTWISE = _per_sample("acts on each value alone")
_NORM = _per_sample("normalizes each sample over its own axes")
_PREPROCESS = _per_sample("a fixed transform of each sample")
CONTAINER = _per_sample("a container: the layers nested in it decide")
_RANDOM_AUGMENT = _per_step(
    "draws random transforms per call (some once per batch) or mixes samples; "
    "per step keeps one draw per step, as Keras' loop does"
)

_BY_NAME = {
    "Activation": _activation,
    "ActivityRegularization": _per_sample(
        "an identity with an activity regularizer, which is scaled as the loop sums it"
    ),
    "Add": _MERGE,
    "AdditiveAttention": _ATTENTION,
    "AlphaDropout": lambda layer: (
        (FOLD, "noise per position or per sample")
        if layer.noise_shape is None or layer.noise_shape[0] is None
        else _dropout(layer)
    ),
    "Attention": _ATTENTION,
    "AugMix": _RANDOM_AUGMENT,
    "AutoContrast": _PREPROCESS,
    "Average": _MERGE,
    "BatchNormalization": _per_sample(
        "documented difference: in training its statistics are over all batch * time "
        "frames of the call, one moving-average update per call"
    ),
    "Bidirectional": _RNN,
    "CategoryEncoding": _PREPROCESS,
    "CenterCrop": _PREPROCESS,
    "Concatenate": _MERGE,
    "ContrastLimitedAdaptiveHistogramEqualization": _PREPROCESS,
    "ConvLSTM1D": _RNN,
    "ConvLSTM2D": _RNN,
    "ConvLSTM3D": _RNN,
    "CutMix": _RANDOM_AUGMENT,
    "Dense": dense,
    "Discretization": _PREPROCESS,
    "Dot": _MERGE,
    "Dropout": _dropout,
    "ELU": _ELEMENTWISE,
    "EinsumDense": _per_sample("an einsum over each sample's own axes"),
    "Embedding": _per_sample("a lookup per index"),
    "Equalization": _PREPROCESS,
    "Flatten": _SHAPE,
    "FlaxLayer": _opaque,
    "GRU": _RNN,
    "GRUCell": _RNN,
    "GaussianDropout": _ELEMENTWISE,
    "GaussianNoise": _ELEMENTWISE,
    "GroupNormalization": _NORM,
    "GroupedQueryAttention": _ATTENTION,
    "HashedCrossing": _PREPROCESS,
    "Hashing": _PREPROCESS,
    "Identity": _ELEMENTWISE,
    "InputLayer": _refused("an InputLayer computes nothing to apply per step"),
    "IntegerLookup": _PREPROCESS,
    "JaxLayer": _opaque,
    "LSTM": _RNN,
    "LSTMCell": _RNN,
    "Lambda": _per_sample(
        "a function of each sample, assumed (pass fold='never' if it mixes samples)"
    ),
    "Layer": _custom,
    "LayerNormalization": _layer_normalization,
    "LeakyReLU": _ELEMENTWISE,
    "Masking": _ELEMENTWISE,
    "MaxNumBoundingBoxes": _PREPROCESS,
    "Maximum": _MERGE,
    "MelSpectrogram": _PREPROCESS,
    "Minimum": _MERGE,
    "MixUp": _RANDOM_AUGMENT,
    "Mosaic": _RANDOM_AUGMENT,
    "MultiHeadAttention": _ATTENTION,
    "Multiply": _MERGE,
    "Normalization": _PREPROCESS,
    "PReLU": _ELEMENTWISE,
    "Permute": _SHAPE,
    "Pipeline": CONTAINER,
    "RMSNormalization": _NORM,
    "RNN": _RNN,
    "RandAugment": _RANDOM_AUGMENT,
    "ReLU": _ELEMENTWISE,
    "RepeatVector": _SHAPE,
    "Rescaling": _PREPROCESS,
    "Reshape": _SHAPE,
    "Resizing": _PREPROCESS,
    "ReversibleEmbedding": _per_sample("a lookup per index, or a product on the last axis"),
    "STFTSpectrogram": _PREPROCESS,
    "SimpleRNN": _RNN,
    "SimpleRNNCell": _RNN,
    "Softmax": _per_sample("a softmax over each sample's own axes"),
    "Solarization": _RANDOM_AUGMENT,
    "SpatialDropout1D": _per_sample("one mask per sample and channel"),
    "SpatialDropout2D": _per_sample("one mask per sample and channel"),
    "SpatialDropout3D": _per_sample("one mask per sample and channel"),
    "SpectralNormalization": _spectral_normalization,
    "StackedRNNCells": _RNN,
    "StringLookup": _PREPROCESS,
    "Subtract": _MERGE,
    "TFSMLayer": _opaque,
    "TernaryDense": dense,
    "TextVectorization": _PREPROCESS,
    "TimeDistributed": CONTAINER,
    "TorchModuleWrapper": _opaque,
    "UnitNormalization": _NORM,
    "Wrapper": CONTAINER,
}
_PREFIXES = {
    "Adaptive": _POOL,
    "Average": _POOL,
    "Conv": _CONV,
    "Cropping": _SHAPE,
    "Depthwise": _CONV,
    "Global": _POOL,
    "Max": _POOL,
    "Random": _RANDOM_AUGMENT,
    "Separable": _CONV,
    "UpSampling": _SHAPE,
    "ZeroPadding": _SHAPE,
}


def _keras_layer_classes():
    return [
        value
        for value in vars(layers).values()
        if isinstance(value, type) and issubclass(value, layers.Layer)
    ]


def _build_class_rules():
    rules = {}
    for cls in _keras_layer_classes():
        rule = _BY_NAME.get(cls.__name__)
        if rule is None:
            rule = next(
                (r for prefix, r in _PREFIXES.items() if cls.__name__.startswith(prefix)), None
            )
        if rule is not None:
            rules[cls] = rule
    rules[keras.Sequential] = CONTAINER
    return rules


# Every layer class `keras.layers` exports that the rule knows, by identity.
# A class missing here (one a newer Keras adds) is judged as a custom layer
# until it is added; a test lists the ones missing.
CLASS_RULES = _build_class_rules()


def _is_keras_class(cls):
    return cls.__module__ == "keras" or cls.__module__.startswith("keras.")


# This package's own layer classes, by identity. The module that defines one
# registers it (`register_package_class`) when it is imported, so this module
# imports none of them.
PACKAGE_RULES = {}


def register_package_class(cls, rule):
    """Judges this package's layer class `cls` by `rule` (`CONTAINER`, `dense`)."""
    PACKAGE_RULES[cls] = rule
    return cls


def rule_for(cls):
    """The rule for a layer class: its own, a Keras parent's whose `call` it keeps, or `_custom`."""
    rule = CLASS_RULES.get(cls) or PACKAGE_RULES.get(cls)
    if rule is not None:
        return rule
    if _is_functional_class(cls):
        return CONTAINER
    for parent in cls.__mro__[1:]:
        parent_rule = CLASS_RULES.get(parent)
        if parent_rule is not None and parent is not layers.Layer and cls.call is parent.call:
            return parent_rule
    return _custom


def _is_functional_class(cls):
    # `keras.Model(inputs, outputs)` builds an instance of Keras' Functional
    # class, which `keras.layers` does not export.
    return _is_keras_class(cls) and issubclass(cls, keras.Model) and cls.__name__ == "Functional"


_ASSIGNS = frozenset({"assign", "assign_add", "assign_sub"})
_FRAMEWORKS = frozenset(
    {"builtins", "keras", "torch", "tensorflow", "jax", "flax", "typing", "abc"}
)


def _own_names(cls):
    """The names used in the code of every class in `cls`'s MRO that is not Keras' own.

    Names, not text: a docstring or comment that mentions `add_loss` is not
    a call to it. None when some source cannot be read.
    """
    names = set()
    for klass in cls.__mro__:
        # Keras' own classes, and the backend's base classes a Keras layer
        # has on some backends (`torch.nn.Module`), are not the user's code.
        if klass.__module__.split(".")[0] in _FRAMEWORKS:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
            tokens = tokenize.generate_tokens(io.StringIO(source).readline)
            names.update(token.string for token in tokens if token.type == tokenize.NAME)
        except (OSError, TypeError, tokenize.TokenError, SyntaxError):
            return None
    return names


def _own_non_trainable(layer):
    """The non-trainable variables `layer` holds itself, not through its sublayers."""
    nested = {
        id(v)
        for sub in layer._flatten_layers(include_self=False, recursive=True)
        for v in sub.weights
    }
    return [v for v in layer.weights if not v.trainable and id(v) not in nested]


def _nested(layer):
    return layer._flatten_layers(include_self=True, recursive=True)


def has_nested_state(layer):
    """True when `layer` or a layer nested in it is `stateful`: its state carries between calls."""
    return any(getattr(sub, "stateful", False) for sub in _nested(layer))


def check_fold_option(fold):
    if fold not in FOLD_OPTIONS:
        expected = ", ".join(map(repr, FOLD_OPTIONS))
        raise ValueError(
            f"Received an invalid value for `fold`, expected one of {expected}. "
            f"Received: fold={fold!r}\n"
            "  Fix: 'auto' (the default) folds what is provably per sample and runs the rest "
            "per step; 'always' folds a layer you know is per sample; 'never' runs every step "
            "on its own"
        )


def classify(layer, fold="auto"):
    """How `TimeDistributed(layer, fold=fold)` runs `layer`.

    Args:
        layer: The inner layer, built (its variables are looked at).
        fold: `"auto"`, `"always"` or `"never"`.

    Returns:
        A `Decision`.

    Raises:
        ValueError: when `layer` is one the rule refuses to wrap (an
            `InputLayer`).
    """
    check_fold_option(fold)
    top_mode, top_reason = rule_for(type(layer))(layer)
    if top_mode == REFUSED:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) cannot be wrapped by "
            f"TimeDistributed: {top_reason}.\n  Fix: wrap the layer that follows it"
        )
    nested = _nested(layer)
    for sub in nested:
        if getattr(sub, "stateful", False):
            return Decision(
                PER_STEP,
                f"layer '{sub.name}' is stateful: its state has one row per sample and "
                "carries from one step to the next",
            )
    if fold == "never":
        return Decision(PER_STEP, "fold='never'")
    rescaled = []
    per_step = None
    for sub in nested:
        mode, reason = (top_mode, top_reason) if sub is layer else rule_for(type(sub))(sub)
        if mode == PER_STEP and per_step is None:
            per_step = f"layer '{sub.name}' ({type(sub).__name__}): {reason}"
        regularizer = getattr(sub, "activity_regularizer", None)
        if regularizer is None:
            continue
        if not isinstance(regularizer, _SUMS_OVER_POSITIONS) and per_step is None:
            per_step = (
                f"layer '{sub.name}' has an activity regularizer that is not a sum over "
                f"positions ({type(regularizer).__name__}), so the loop's sum over steps "
                "differs from its value on the whole sequence"
            )
        if sub is not layer:
            rescaled.append(sub)
    if fold == "always":
        if top_mode == IN_PLACE and len(nested) == 1:
            return Decision(IN_PLACE, "fold='always'")
        return _folded(layer, "fold='always'", rescaled)
    if per_step is not None:
        return Decision(PER_STEP, per_step)
    if top_mode == IN_PLACE and len(nested) == 1:
        return Decision(IN_PLACE, top_reason)
    return _folded(layer, top_reason, rescaled)


def _folded(layer, reason, rescaled):
    """A `FOLD` decision, with the strategy `_strategy` takes for it on this backend and device."""
    frames, why = _strategy.group_frames(layer)
    elements = None
    if frames is None:
        elements, why = _strategy.group_elements(layer)
    if why is None:
        return Decision(FOLD, reason, tuple(rescaled))
    statistics = _strategy.batch_statistics(layer)
    if statistics:
        first = statistics[0]
        why += (
            f"; in training in one call: '{first.name}' ({type(first).__name__}) normalizes "
            "by all the frames of its call"
        )
    return Decision(
        FOLD,
        f"{reason}; {why}",
        tuple(rescaled),
        frames,
        elements,
        group_in_training=not statistics,
    )
