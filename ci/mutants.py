"""Plants semantic bugs in keras_tdplus, one at a time, and checks the tests catch each.

    KERAS_BACKEND=jax python ci/mutants.py              # every mutant
    KERAS_BACKEND=jax python ci/mutants.py tdd_no_bias  # only these
    python ci/mutants.py --list

No source file is edited. Each mutant is a function that monkeypatches the
package; this file is also the pytest plugin that applies it: the runner starts
`python -m pytest -p mutants` with `ci/` on `PYTHONPATH` and the mutant's name
in `TDPLUS_MUTANT`, so the patch is in place before any test module imports the
package. Each mutant names the tests that should catch it (slow ones left out);
they run with `-x`, so a caught mutant costs little more than pytest's start.

A mutant is "caught" when a test fails, "survived" when all pass, and "error"
for anything else: the patch could not be applied (a name it targets was
renamed: update the mutant), or the test that failed also fails without the
mutant (every catching test is run once more, unpatched, at the end). The
script exits 0 only when every mutant is caught.
"""

import argparse
import collections
import concurrent.futures
import dataclasses
import inspect
import os
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_VAR = "TDPLUS_MUTANT"


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    tests: tuple  # (test file, -k expression or None) pairs
    apply: object


MUTANTS = {}


def mutant(description, *tests):
    def register(apply):
        MUTANTS[apply.__name__] = Mutant(apply.__name__, description, tests, apply)
        return apply

    return register


def _modules():
    return [m for name, m in sorted(sys.modules.items()) if name.startswith("keras_tdplus") and m]


def _replace_everywhere(old, new):
    """Rebinds every name in the package's modules that holds `old` to `new`."""
    count = 0
    for module in _modules():
        for name, value in list(vars(module).items()):
            if value is old:
                setattr(module, name, new)
                count += 1
    if not count:
        raise RuntimeError(f"nothing in keras_tdplus holds {old!r}")


def _find(name):
    """The one module-level object called `name` in the package."""
    found = {id(vars(m)[name]): vars(m)[name] for m in _modules() if name in vars(m)}
    if len(found) != 1:
        raise RuntimeError(f"expected one `{name}` in keras_tdplus, found {len(found)}")
    return next(iter(found.values()))


def _takes(layer, argument):
    return argument in inspect.signature(layer.call).parameters


def _wrapped_inner_call(layer, change_kwargs):
    """Context manager: `layer.call` with its keyword arguments changed by `change_kwargs`."""
    import contextlib

    @contextlib.contextmanager
    def scope():
        original = layer.call

        def call(*args, **kwargs):
            return original(*args, **change_kwargs(dict(kwargs)))

        call.__signature__ = inspect.signature(original)
        layer.call = call
        try:
            yield
        finally:
            layer.call = original

    return scope()


MASK_TESTS = (
    ("tests/test_random_weights.py", "mask"),
    ("tests/test_time_distributed.py", "mask"),
)


@mutant(
    "TimeDistributed returns zero steps with a batch of 1 (what a reshape to -1 steps gives)",
    ("tests/test_time_distributed.py", "zero_steps"),
)
def td_zero_steps_batch_of_one():
    from keras import ops

    from keras_tdplus import TimeDistributed

    original = TimeDistributed._no_steps

    def no_steps(self, inputs):
        outputs = original(self, inputs)
        return ops.zeros((1, *ops.shape(outputs)[1:]), dtype=outputs.dtype)

    TimeDistributed._no_steps = no_steps


@mutant(
    "convert_time_distributed gives each wrapper of a shared inner layer a copy of its own",
    ("tests/test_convert.py", "shared_inner_layer"),
)
def convert_unshares_inner_layers():
    from keras_tdplus.layers import _convert

    original = _convert._Cloner._clone

    def clone(self, layer):
        inner = getattr(layer, "layer", None)
        if inner is not None:
            self.clones.pop(id(inner), None)
        return original(self, layer)

    _convert._Cloner._clone = clone


@mutant(
    "the config reader takes the wrapper's mask op for a layer (not an op node)",
    ("tests/test_op_nodes.py", "mask_op"),
)
def mask_op_not_an_op_node():
    from keras_tdplus._config import op_node

    op_node.OUR_OPS = ()


@mutant(
    "a TensorFlow graph traced for any number of steps unfolds to -1 steps-first (zero steps "
    "come back with a batch of 1)",
    ("tests/test_time_distributed.py", "tensorflow_graph"),
)
def td_unfold_minus_one_in_a_tensorflow_graph():
    from keras import ops

    from keras_tdplus.layers import _time_distributed

    original = _time_distributed._unfold

    def unfold(y, like):
        time = ops.shape(like)[1]
        if time is None or isinstance(time, int):
            return original(y, like)
        return ops.reshape(y, (-1, time, *ops.shape(y)[1:]))

    _time_distributed._unfold = unfold


@mutant(
    "TimeDistributed calls the inner layer once per step in a Python loop",
    ("tests/test_fold_structure.py", None),
)
def td_per_step_loop():
    from keras import ops

    from keras_tdplus import TimeDistributed

    original = TimeDistributed.call

    def call(self, inputs, training=None, mask=None):
        steps = inputs.shape[1]
        if not isinstance(steps, int):
            return original(self, inputs, training, mask)
        kwargs = {"training": training} if _takes(self.layer, "training") else {}
        return ops.stack([self.layer.call(inputs[:, t], **kwargs) for t in range(steps)], axis=1)

    TimeDistributed.call = call


@mutant("TimeDistributed never passes a mask to the inner layer", *MASK_TESTS)
def mask_not_passed():
    from keras_tdplus import TimeDistributed

    original = TimeDistributed.call

    def call(self, inputs, training=None, mask=None):
        def drop(kwargs):
            kwargs.pop("mask", None)
            return kwargs

        with _wrapped_inner_call(self.layer, drop):
            return original(self, inputs, training, mask)

    TimeDistributed.call = call


@mutant("TimeDistributed passes the mask unfolded, (batch, time, ...)", *MASK_TESTS)
def mask_passed_unfolded():
    from keras_tdplus import TimeDistributed

    original = TimeDistributed.call

    def call(self, inputs, training=None, mask=None):
        def unfold(kwargs):
            if "mask" in kwargs:
                kwargs["mask"] = mask
            return kwargs

        with _wrapped_inner_call(self.layer, unfold):
            return original(self, inputs, training, mask)

    TimeDistributed.call = call


@mutant(
    "a (batch, time) mask is folded to (batch * time,) and given to any inner layer "
    "taking a mask (crashes Masking > TimeDistributed(Reshape) > TimeDistributed(LSTM))",
    *MASK_TESTS,
)
def time_mask_folded_into_inner():
    from keras import ops

    from keras_tdplus import TimeDistributed

    original = TimeDistributed.call

    def call(self, inputs, training=None, mask=None):
        if mask is None or len(mask.shape) != 2 or not _takes(self.layer, "mask"):
            return original(self, inputs, training, mask)

        def fold(kwargs):
            kwargs["mask"] = ops.reshape(mask, (-1,))
            return kwargs

        with _wrapped_inner_call(self.layer, fold):
            return original(self, inputs, training, mask)

    TimeDistributed.call = call


@mutant(
    "the incoming time mask is combined with the inner layer's mask by logical_or",
    *MASK_TESTS,
)
def mask_combined_with_or():
    import keras

    ops = types.SimpleNamespace(
        **{name: getattr(keras.ops, name) for name in dir(keras.ops) if not name.startswith("_")}
    )
    ops.logical_and = keras.ops.logical_or
    module = sys.modules[_find("TimeDistributed").__module__]
    if getattr(module, "ops", None) is not keras.ops:
        raise RuntimeError(f"{module.__name__} does not use keras.ops as `ops`")
    module.ops = ops


@mutant("TimeDistributed.compute_mask returns None", *MASK_TESTS)
def td_compute_mask_none():
    from keras_tdplus import TimeDistributed

    TimeDistributed.compute_mask = lambda self, inputs, mask=None: None


@mutant(
    "TimeDistributed passes on a mask with more axes than its output keeps (the words of a "
    "(batch, sentences, words) mask on a sentence encoder's (batch, sentences, units))",
    ("tests/test_time_distributed_fidelity.py", "sentence_encoder"),
)
def td_mask_keeps_axes_the_output_lacks():
    from keras_tdplus import TimeDistributed

    TimeDistributed._fit_masks = lambda self, inputs, masks: masks


@mutant(
    "TimeDistributedDense.compute_mask returns None",
    ("tests/test_time_distributed_dense.py", "mask"),
)
def tdd_compute_mask_none():
    from keras_tdplus import TimeDistributedDense

    TimeDistributedDense.compute_mask = lambda self, inputs, mask=None: None


@mutant(
    "TimeDistributedDense adds no bias",
    ("tests/test_random_weights.py", "dense"),
    ("tests/test_time_distributed_dense.py", "equals"),
)
def tdd_no_bias():
    from keras import ops

    from keras_tdplus import TimeDistributedDense

    def call(self, inputs, mask=None):
        outputs = ops.matmul(inputs, self.kernel)
        return outputs if self.activation is None else self.activation(outputs)

    TimeDistributedDense.call = call


@mutant(
    "the fold goes time-major and the unfold batch-major (steps and samples mixed up)",
    ("tests/test_random_weights.py", "equals"),
    ("tests/test_time_distributed.py", "equals"),
)
def fold_wrong_axis_order():
    from keras import layers, ops

    from keras_tdplus import TimeDistributed

    original = TimeDistributed.call
    last_axis = (layers.Dense, layers.Activation, layers.Dropout, layers.LayerNormalization)

    def call(self, inputs, training=None, mask=None):
        batch, steps = inputs.shape[:2]
        concrete = isinstance(batch, int) and isinstance(steps, int)
        if (
            not concrete
            or getattr(self.layer, "stateful", False)
            or isinstance(self.layer, last_axis)
        ):
            return original(self, inputs, training, mask)
        axes = (1, 0, *range(2, len(inputs.shape)))
        folded = ops.reshape(ops.transpose(inputs, axes), (-1, *inputs.shape[2:]))
        kwargs = {"training": training} if _takes(self.layer, "training") else {}
        outputs = self.layer.call(folded, **kwargs)
        return ops.reshape(outputs, (batch, steps, *outputs.shape[1:]))

    TimeDistributed.call = call


@mutant(
    "TimeDistributed does not pass `training` on (Dropout stays off in fit)",
    ("tests/test_time_distributed.py", "dropout"),
)
def training_not_passed():
    from keras_tdplus import TimeDistributed

    original = TimeDistributed.call
    TimeDistributed.call = lambda self, inputs, training=None, mask=None: original(
        self, inputs, None, mask
    )


@mutant(
    "convert_time_distributed ignores `trainable`",
    ("tests/test_random_weights.py", "convert"),
    ("tests/test_convert.py", None),
)
def convert_ignores_trainable():
    from keras_tdplus import TimeDistributed, TimeDistributedDense, convert_time_distributed

    module = sys.modules[convert_time_distributed.__module__]
    for name, cls in (
        ("TimeDistributed", TimeDistributed),
        ("TimeDistributedDense", TimeDistributedDense),
    ):

        def make(*args, _cls=cls, trainable=True, **kwargs):
            return _cls(*args, **kwargs)

        if getattr(module, name, None) is not cls:
            raise RuntimeError(f"{module.__name__} does not build `{name}` by that name")
        setattr(module, name, make)


FOLD_RULE = "tests/test_fold_rule.py"
FOLD_SEMANTICS = "tests/test_fold_semantics.py"


@mutant(
    "the fold rule trusts every custom layer (add_loss and assigns in `call` folded)",
    (FOLD_RULE, "custom"),
    (FOLD_SEMANTICS, "eager_call and (add_loss or counter)"),
)
def fold_rule_trusts_custom_layers():
    from keras_tdplus.layers import _fold_rule

    def trusting(layer):
        return _fold_rule.FOLD, "trusted"

    original = _fold_rule._custom
    _replace_everywhere(original, trusting)
    for cls, rule in list(_fold_rule.CLASS_RULES.items()):
        if rule is original:
            _fold_rule.CLASS_RULES[cls] = trusting


@mutant(
    "the fold rule ignores a `stateful` layer nested inside the inner layer",
    (FOLD_RULE, "stateful"),
    (FOLD_SEMANTICS, "stateful"),
)
def fold_rule_sees_top_level_stateful_only():
    from keras_tdplus.layers import _fold_rule

    nested = _fold_rule._nested

    def top_only_when_stateful(layer):
        found = nested(layer)
        return (
            [layer]
            if getattr(layer, "stateful", False)
            else [sub for sub in found if not getattr(sub, "stateful", False)]
        )

    _fold_rule._nested = top_only_when_stateful


@mutant(
    "a LayerNormalization over any one axis runs in place (Keras 3.16 builds axis=-1 into a "
    "positive index, which in place would be the time axis)",
    (FOLD_RULE, "layer_norm"),
)
def fold_rule_layer_norm_in_place_on_any_axis():
    import keras

    from keras_tdplus.layers import _fold_rule

    _fold_rule.CLASS_RULES[keras.layers.LayerNormalization] = lambda layer: (
        _fold_rule.IN_PLACE,
        "normalizes each position over the last axis",
    )


@mutant(
    "the wrapper drops the mask for the layers after it, as Keras 3.16's does",
    ("tests/test_keras_next.py", "mask"),
)
def wrapper_drops_the_mask_like_keras_3_16():
    from keras_tdplus.layers import _time_distributed

    _time_distributed.TimeDistributed.compute_mask = lambda self, inputs, mask=None: None


@mutant(
    "the fold calls a convolution once on every frame on a CPU too (no groups)",
    (FOLD_RULE, "groups_of_steps_on_a_cpu"),
)
def strategy_never_groups():
    from keras_tdplus.layers import _strategy

    _strategy.group_frames = lambda layer: (None, None)


@mutant(
    "the groups of steps ignore the batch: one call of every frame whatever its size",
    (FOLD_RULE, "steps_per_group"),
)
def strategy_groups_ignore_the_batch():
    from keras_tdplus.layers import _strategy

    original = _strategy.steps_per_group
    _strategy.steps_per_group = lambda batch, steps, frames: original(1, steps, frames)


@mutant(
    "the groups below the pooling line ignore the batch: calls of `batch` times the frames",
    (FOLD_RULE, "pooling_line"),
)
def strategy_pooling_groups_ignore_the_batch():
    from keras_tdplus.layers import _strategy

    original = _strategy.steps_below
    _strategy.steps_below = lambda batch, steps, elements, frame: original(
        1, steps, elements, frame
    )


@mutant(
    "a BatchNormalization in training runs in groups: statistics of each group's frames",
    (FOLD_SEMANTICS, "batch_normalization_trains_in_one_call"),
)
def strategy_groups_split_batch_statistics():
    from keras_tdplus.layers import _strategy

    _strategy.batch_statistics = lambda layer: []


@mutant(
    "the groups of steps are joined in reverse time order",
    (FOLD_SEMANTICS, "groups_of_steps"),
)
def strategy_groups_joined_in_reverse():
    from keras import ops

    from keras_tdplus.layers import _time_distributed

    class ReversedJoin:
        def __getattr__(self, name):
            return getattr(ops, name)

        @staticmethod
        def concatenate(xs, axis=0):
            return ops.concatenate(list(reversed(xs)), axis=axis)

    _time_distributed.ops = ReversedJoin()


@mutant(
    "Dropout folds whatever its noise_shape",
    (FOLD_RULE, "dropout"),
    (FOLD_SEMANTICS, "dropout"),
)
def dropout_noise_shape_folded():
    from keras import layers

    from keras_tdplus.layers import _fold_rule

    _fold_rule.CLASS_RULES[layers.Dropout] = lambda layer: (
        (_fold_rule.IN_PLACE, "mutant")
        if layer.noise_shape is None
        else (_fold_rule.FOLD, "mutant")
    )


@mutant(
    "any Activation runs in place, whatever its callable",
    (FOLD_RULE, "activation"),
    (FOLD_SEMANTICS, "activation"),
)
def activation_always_in_place():
    from keras import layers

    from keras_tdplus.layers import _fold_rule

    _fold_rule.CLASS_RULES[layers.Activation] = lambda layer: (_fold_rule.IN_PLACE, "mutant")
    _fold_rule.CLASS_RULES[layers.Dense] = lambda layer: (_fold_rule.IN_PLACE, "mutant")


@mutant(
    "nested activity regularizers are not rescaled in a folded call (losses 1/T)",
    (FOLD_SEMANTICS, "nested_activity_regularizer"),
)
def nested_regularizers_not_rescaled():
    from keras_tdplus.layers import _fold_rule

    _fold_rule.ScaledRegularizer.__call__ = lambda self, x: self.regularizer(x)


@mutant(
    "several outputs without masks of their own get one mask (only the first output)",
    (FOLD_SEMANTICS, "several"),
)
def several_outputs_one_mask():
    from keras_tdplus import TimeDistributed

    original = TimeDistributed._compute_mask

    def compute_mask(self, inputs, mask):
        result = original(self, inputs, mask)
        if isinstance(result, (list, tuple)):
            return result[0]
        return result

    TimeDistributed._compute_mask = compute_mask


@mutant(
    "convert_time_distributed replays the stock wiring of masks",
    ("tests/test_convert_wiring.py", "mask"),
)
def convert_keeps_stock_masks():
    from keras_tdplus import convert_time_distributed

    module = sys.modules[convert_time_distributed.__module__]
    module._mask_always_implied = lambda layer: False


@mutant(
    "convert_time_distributed clones a shared inner layer once per wrapper",
    ("tests/test_convert_wiring.py", "shared"),
)
def convert_splits_shared_inner_layers():
    from keras_tdplus import convert_time_distributed

    module = sys.modules[convert_time_distributed.__module__]
    original = module._Cloner._clone

    def clone(self, layer):
        self.clones.pop(id(getattr(layer, "layer", None)), None)
        self.uses = collections.Counter()
        return original(self, layer)

    module._Cloner._clone = clone


@mutant(
    "`fold` is dropped from the config",
    (FOLD_RULE, "config"),
)
def fold_not_in_config():
    from keras_tdplus import TimeDistributed

    original = TimeDistributed.get_config

    def get_config(self):
        config = original(self)
        config.pop("fold", None)
        return config

    TimeDistributed.get_config = get_config


MASKED_STEPS = "tests/test_masked_steps.py"


@mutant(
    "skip_masked_steps computes every step and leaves the masked ones as computed",
    (MASKED_STEPS, None),
)
def masked_steps_not_zeroed():
    from keras_tdplus.layers import _masked_steps

    def packed_call(call, inputs, mask, valid, variables, training=None):
        return call(inputs, mask)

    _replace_everywhere(_masked_steps.packed_call, packed_call)


@mutant(
    "a step counts as masked when any of its positions is (not all)",
    (MASKED_STEPS, None),
)
def masked_step_when_any_position_masked():
    from keras import ops

    from keras_tdplus.layers import _masked_steps

    original = _masked_steps.step_validity

    def step_validity(pairs):
        strict = []
        for x, mask in pairs:
            if mask is not None and len(mask.shape) > 2:
                mask = ops.all(ops.cast(mask, "bool"), axis=tuple(range(2, len(mask.shape))))
            strict.append((x, mask))
        return original(strict)

    _replace_everywhere(original, step_validity)


@mutant(
    "the packed batch is one row smaller than the bucket (the last valid step is lost)",
    (MASKED_STEPS, None),
)
def bucket_one_row_short():
    from keras_tdplus.layers import _masked_steps

    original = _masked_steps._pack

    def pack(call, inputs, mask, valid, rows, capacity):
        return original(call, inputs, mask, valid, rows, capacity - 1)

    _masked_steps._pack = pack


@mutant(
    "torch.compile packs to the exact count, not a bucket (a graph per count; torch only)",
    (MASKED_STEPS, "torch_compile"),
)
def torch_compile_packs_the_exact_count():
    from keras_tdplus.layers import _masked_steps

    original = _masked_steps._capacity

    def capacity(valid, rows, mode):
        return original(valid, rows, "exact")

    _masked_steps._capacity = capacity


@mutant(
    "`skip_masked_steps` is dropped from the config",
    (MASKED_STEPS, "config or save"),
)
def skip_masked_steps_not_in_config():
    from keras_tdplus import TimeDistributed

    original = TimeDistributed.get_config

    def get_config(self):
        config = original(self)
        config.pop("skip_masked_steps", None)
        return config

    TimeDistributed.get_config = get_config


@mutant(
    "convert_time_distributed ignores skip_masked_steps",
    (MASKED_STEPS, "convert"),
)
def convert_ignores_skip_masked_steps():
    from keras_tdplus import convert_time_distributed

    module = sys.modules[convert_time_distributed.__module__]
    original = module._Cloner.__init__

    def init(self, model, skip_masked_steps):
        original(self, model, False)

    module._Cloner.__init__ = init


@mutant(
    "the LSTM parameter formula counts 3 gates, not 4", ("tests/test_params.py", "lstm or LSTM")
)
def lstm_gates_off_by_one():
    import keras

    gates = _find("_GATES")
    gates[keras.layers.LSTMCell] = gates[keras.layers.LSTMCell] - 1


@mutant(
    "count_flops counts one step of a recurrent layer, not `time` steps",
    ("tests/test_flops.py", "recurrent"),
)
def flops_recurrent_one_step():
    import keras

    registry = _find("REGISTRY")
    counted = registry[keras.layers.LSTM].flops

    def one_step(layer, shape, output, count):
        return counted(layer, (shape[0], 1, *shape[2:]), output, count)

    for name in ("LSTM", "GRU", "SimpleRNN"):
        registry[getattr(keras.layers, name)].flops = one_step


@mutant(
    "count_flops counts a TimeDistributed layer's inner layer once, not once per step",
    ("tests/test_flops.py", "stock_time_distributed or ours"),
)
def flops_time_distributed_once():
    import keras

    import keras_tdplus

    registry = _find("REGISTRY")

    def once(layer, shape, output, count):
        return count(layer.layer, (shape[0], *shape[2:]))

    for wrapper in (keras.layers.TimeDistributed, keras_tdplus.TimeDistributed):
        registry[wrapper].flops = once


@mutant(
    "count_flops counts a transposed convolution at its output positions",
    ("tests/test_flops.py", "Transpose"),
)
def flops_transposed_conv_at_outputs():
    import dataclasses
    import math

    import keras

    registry = _find("REGISTRY")
    counted = registry[keras.layers.Conv2DTranspose].flops

    def at_outputs(layer, shape, output, count):
        full = counted(layer, shape, output, count)
        rank = len(layer.kernel_size)
        first = 1 if layer.data_format == "channels_last" else 2
        positions = math.prod(output[first : first + rank])
        total = full.total // full.variables["input_positions"] * positions
        return dataclasses.replace(full, total=total)

    for name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        registry[getattr(keras.layers, name)].flops = at_outputs


@mutant(
    "count_flops leaves out MultiHeadAttention's two attention products",
    ("tests/test_flops.py", "attention"),
)
def flops_attention_without_products():
    import dataclasses

    import keras

    registry = _find("REGISTRY")
    counted = registry[keras.layers.MultiHeadAttention].flops

    def projections_only(layer, shape, output, count):
        full = counted(layer, shape, output, count)
        v = full.variables
        pairs = v.get("query_steps", v["query_positions"]) * v.get("key_steps", v["key_positions"])
        products = 2 * v["batch"] * v.get("batch_like", 1) * v["heads"] * pairs
        total = full.total - products * (v["key_dim"] + v["value_dim"])
        return dataclasses.replace(full, total=total)

    registry[keras.layers.MultiHeadAttention].flops = projections_only


@mutant(
    "a training step counts one backward product per product, whatever its operands need",
    ("tests/test_flops_training.py", "kernel_gradient or frozen or attention or lstm"),
    ("tests/test_flops.py", "training and (Dense or recurrent)"),
)
def flops_backward_counted_once():
    from keras_tdplus.params import _explain

    counted = _explain.products

    def once(layer, signature, terms, values, grads=None):
        grads = None if grads is None else [["backward"] if g else [] for g in grads]
        return counted(layer, signature, terms, values, grads)

    _replace_everywhere(counted, once)


@mutant(
    "valid_steps is ignored: a layer that skips masked steps counts every padded step",
    ("tests/test_flops_training.py", "valid_steps"),
    ("tests/test_flops.py", "valid_steps"),
)
def flops_valid_steps_ignored():
    from keras_tdplus.params import _gradients

    _replace_everywhere(_gradients.valid_rows, lambda layer, batch, time: None)


@mutant(
    "a training step gives the model's own inputs a gradient",
    ("tests/test_flops_training.py", "kernel_gradient or weightless"),
)
def flops_model_inputs_get_gradients():
    from keras_tdplus.params import _gradients

    carried = _gradients.carried_inputs
    _replace_everywhere(carried, lambda: tuple(True for _ in carried()) or (True,))


@mutant(
    "a recurrent layer's zero initial state gets a gradient at step 0",
    ("tests/test_flops_training.py", "lstm"),
)
def flops_initial_state_differentiated():
    from keras_tdplus.params import _gradients

    flowing = _gradients.flowing

    def always(inputs=None, trainable=None, state=None):
        return flowing(inputs, trainable, None if state is None else True)

    _replace_everywhere(flowing, always)


@mutant(
    "a training step runs the backward of layers whose outputs reach the loss only through "
    "stop_gradient or an integer output",
    ("tests/test_flops_training.py", "stop_gradient or integer"),
)
def flops_backward_where_no_gradient_reaches():
    from keras_tdplus.params import _count

    _count._TableVisitor.settle = lambda self, outputs: None


@mutant(
    "a layer without a FLOPs formula counts as 0, silently",
    ("tests/test_flops_api.py", "without_a_flops_formula or partial"),
)
def flops_missing_counts_zero():
    import dataclasses

    from keras_tdplus.params import _explain

    missing = _explain.missing_flops

    def silent(layer, *_):
        return dataclasses.replace(missing(layer), missing=(), formula="0", substituted="0")

    _replace_everywhere(missing, silent)


@mutant(
    "Throughput times the first step at each batch size (the one that compiles)",
    ("tests/test_callbacks.py", "left_out or last_batch or steps_per_execution"),
)
def throughput_times_compile_step():
    from keras_tdplus.callbacks import _throughput

    original = _throughput.Throughput.on_train_begin

    def on_train_begin(self, logs=None):
        original(self, logs)
        self._compiled.update(size for size in (self._batch, self._last) if size)

    _throughput.Throughput.on_train_begin = on_train_begin


@mutant(
    "the calculator's registry takes a second registration of one class over the first",
    ("tests/test_registry.py", "second_registration"),
)
def registry_second_registration_replaces():
    from keras_tdplus.params import _registry

    def lenient(slot):
        def register(*classes):
            def decorate(function):
                for layer_class in classes:
                    entry = _registry.REGISTRY.setdefault(layer_class, _registry.Entry())
                    setattr(entry, slot, function)
                return function

            return decorate

        return register

    _registry.weights_formula = lenient("weights")
    _registry.flops_formula = lenient("flops")


@mutant(
    "the calculator finds a layer's formulas by its class name, not its class",
    ("tests/test_registry.py", "named_like"),
)
def registry_looks_classes_up_by_name():
    registry = _find("REGISTRY")
    original = _find("entry_for")

    def by_name(layer_class):
        entry = original(layer_class)
        if entry is not None:
            return entry
        named = (e for k, e in registry.items() if k.__name__ == layer_class.__name__)
        return next(named, None)

    _replace_everywhere(original, by_name)


@mutant(
    "keras-tdplus params says the library's arguments as options by rewriting message text",
    ("tests/test_registry.py", "cli"),
)
def cli_rewrites_message_text():
    import re

    original = _find("reworded")

    def by_text(error, say):
        text = str(error).replace("pass allow_build=True", "pass --allow-build")
        return re.sub(
            r"\binput_shape=\(None, ([^()]*)\)",
            lambda m: "--input-shape " + m.group(1).replace(" ", "").rstrip(","),
            text,
        )

    _replace_everywhere(original, by_text)


@mutant(
    "the command line's deferred import of a public name misses the module it comes from",
    ("tests/test_public_api.py", "deferred"),
)
def deferred_import_misses_params():
    import keras_tdplus

    keras_tdplus._HOMES = tuple(home for home in keras_tdplus._HOMES if home != "params")


@mutant(
    "estimate_memory gives Adam one slot per weight, not two",
    ("tests/test_memory.py", "Adam or adam"),
)
def memory_adam_one_slot():
    slots = _find("_SLOTS")
    slots["adam"] = lambda config: 1


@mutant(
    "estimate_memory counts a half-precision element as 4 bytes",
    ("tests/test_memory.py", "mixed_precision"),
)
def memory_half_precision_as_float32():
    from keras_tdplus.params import _memory

    size_of = _memory.dtype_bytes
    _memory.dtype_bytes = lambda dtype: (
        4 if str(dtype) in ("float16", "bfloat16") else size_of(dtype)
    )


CHECK_LAYER_SHAPES = (
    ("tests/test_testing.py", "unknown_size or known_size or rank"),
    ("tests/test_check_layer_on_keras.py", "EinsumDense"),
)


@mutant(
    "check_layer compares shapes exactly again: an unknown (None) size fails",
    *CHECK_LAYER_SHAPES,
)
def check_layer_none_is_not_a_wildcard():
    from keras_tdplus.testing import _checks

    def exact(expected, actual):
        return _checks._plain(expected) == _checks._plain(actual)

    _checks.shapes_agree = exact


@mutant(
    "check_layer lets None match anything and stops at the shorter shape (a rank that "
    "differs passes)",
    *CHECK_LAYER_SHAPES,
)
def check_layer_rank_ignored():
    from keras_tdplus.testing import _checks

    def loose(expected, actual):
        expected, actual = _checks.leaves(expected), _checks.leaves(actual)
        return all(
            e is None or a is None or e == a
            for es, as_ in zip(expected, actual, strict=False)
            for e, a in zip(es, as_, strict=False)
        )

    _checks.shapes_agree = loose


@mutant(
    "check_layer builds a layer on unpacked inputs with every shape as a positional argument "
    "(a cell's build takes its inputs' shape alone)",
    ("tests/test_testing.py", "unpack"),
    ("tests/test_check_layer_on_keras.py", "Cell"),
)
def check_layer_builds_unpacked_positionally():
    from keras_tdplus.testing._checks import Checker

    def build_layer(self, layer):
        if self.options["unpack_inputs"]:
            return layer.build(*self.input_shape)
        return layer.build(self.input_shape)

    Checker.build_layer = build_layer


@mutant(
    "check_layer compares outputs with atol alone (rtol ignored)",
    ("tests/test_testing.py", "relative_tolerance"),
)
def check_layer_without_rtol():
    from keras_tdplus.testing import _checks

    original = _checks._within
    _checks._within = lambda a, b, atol, rtol: original(a, b, atol, 0.0)


@mutant(
    "TimeDistributed's symbolic output takes the wrapper's compute dtype, as Keras' does",
    ("tests/test_time_distributed_fidelity.py", "symbolic_dtype"),
    ("tests/test_check_layer_on_keras.py", "inside_time_distributed and Discretization"),
)
def td_symbolic_dtype_is_compute_dtype():
    from keras_tdplus import TimeDistributed

    del TimeDistributed.compute_output_spec


@mutant(
    "check_fit_data never raises",
    ("tests/test_validation.py", "check_fit_data"),
)
def check_fit_data_never_raises():
    from keras_tdplus import check_fit_data

    def never_raises(model, x, y=None):
        return x, y

    _replace_everywhere(check_fit_data, never_raises)


@mutant(
    "check_sequence_input never raises",
    ("tests/test_validation.py", "check_sequence_input"),
)
def check_sequence_input_never_raises():
    from keras_tdplus import check_sequence_input

    def never_raises(x, *, name="X", timesteps=None, features=None):
        return x

    _replace_everywhere(check_sequence_input, never_raises)


@mutant(
    "`keras-tdplus check` exits 0 when it finds problems",
    ("tests/test_validation.py", "cli"),
)
def check_exit_code_zero():
    from keras_tdplus.cli import _check

    cli_main = _check.main

    def lenient(argv):
        status = cli_main(argv)
        return 0 if status == 1 else status

    _replace_everywhere(cli_main, lenient)


@mutant("Ctrl-C exits 1 instead of 130", ("tests/test_cli_interrupt.py", None))
def ctrl_c_exits_1():
    from keras_tdplus import cli

    main = cli.main

    def main_exit_1(argv=None):
        status = main(argv)
        return 1 if status == 130 else status

    _replace_everywhere(main, main_exit_1)


EXPORT = "tests/test_export.py"


@mutant(
    "the unfold reshapes to the traced batch size, not -1 (a static LiteRT signature cannot be "
    "resized; run with TDPLUS_EXPORT=1 on tensorflow, in `tox -e export`)",
    (EXPORT, "LiteRT and static and Conv2D"),
)
def unfold_bakes_in_the_batch():
    from keras import ops

    from keras_tdplus.layers import _time_distributed

    def unfold(y, like):
        return ops.reshape(y, (*ops.shape(like)[:2], *ops.shape(y)[1:]))

    _time_distributed._unfold = unfold


@mutant(
    "with a symbolic time axis on jax the unfold is a reshape, not a gather (jax2onnx cannot "
    "write it; run with TDPLUS_EXPORT=1 on jax, in `tox -e export`)",
    (EXPORT, "ONNX and Conv2D and None"),
)
def unfold_reshapes_a_symbolic_time():
    from keras import ops

    from keras_tdplus.layers import _time_distributed

    def unfold(y, like):
        batch, time = ops.shape(like)[:2]
        return ops.reshape(y, (-1 if time is not None else batch, time, *ops.shape(y)[1:]))

    _time_distributed._unfold = unfold


@mutant(
    "skip_masked_steps packs under a jax export with symbolic sizes (jax2tf and jax2onnx fail; "
    "run with TDPLUS_EXPORT=1 on jax, in `tox -e export`)",
    (EXPORT, "skip_masked_steps and None"),
)
def skip_packs_under_a_symbolic_export():
    from keras_tdplus.layers import _masked_steps

    _replace_everywhere(_masked_steps.can_pack, lambda valid: True)


@mutant(
    "a TensorFlow graph picks packed or plain through a switch_case, not a cond (tf2onnx writes "
    "a graph ONNX Runtime refuses; run with TDPLUS_EXPORT=1 on tensorflow)",
    (EXPORT, "ONNX and skip_masked_steps"),
)
def tf_graph_packs_through_a_switch():
    from keras import ops

    from keras_tdplus.layers import _masked_steps

    public = {name: getattr(ops, name) for name in dir(ops) if not name.startswith("_")}
    patched = types.SimpleNamespace(**public)
    patched.cond = lambda pred, true_fn, false_fn: ops.switch(
        ops.cast(pred, "int32"), [false_fn, true_fn]
    )
    _masked_steps.ops = patched


@mutant(
    "skip_masked_steps packs under torch.export and the ONNX exporter's tracing (torch.export "
    "fails on the count; run with TDPLUS_EXPORT=1 on torch, in `tox -e export`)",
    (EXPORT, "torch.export and skip_masked_steps"),
)
def skip_packs_under_torch_export():
    import torch

    torch.compiler.is_exporting = lambda: False
    torch.jit.is_tracing = lambda: False


# The pytest plugin side.


def pytest_configure(config):
    name = os.environ.get(ENV_VAR)
    if not name:
        return
    import pytest

    import keras_tdplus  # noqa: F401

    try:
        MUTANTS[name].apply()
    except Exception as error:
        raise pytest.UsageError(f"mutant {name!r} could not be applied: {error!r}") from None


def pytest_report_header(config):
    name = os.environ.get(ENV_VAR)
    return f"mutant planted: {name}" if name else None


# The runner side.


def _selection(tests):
    """pytest arguments that select `tests`, (file, -k expression or None) pairs."""
    files = list(dict.fromkeys(path for path, _ in tests))
    selections = []
    for path, expression in tests:
        stem = Path(path).stem
        selections.append(f"({stem} and ({expression}))" if expression else stem)
    return ["-x", "-k", " or ".join(selections), *files]


def _run(pytest_args, mutant_name, python):
    """Runs pytest; returns (exit status, failed test ids, summary line, output, seconds)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "ci"), str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.pop(ENV_VAR, None)
    if mutant_name:
        env[ENV_VAR] = mutant_name
    command = [python, "-m", "pytest", "-p", "mutants", "-p", "no:cacheprovider", "-q", "-rfE"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "-m", "not slow", *pytest_args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines() or [""]
    failed = [line.split(" ")[1] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    summary = lines[-1].strip("= ")
    output = done.stdout + done.stderr
    return done.returncode, failed, summary, output, time.perf_counter() - started


def _plant(m, python):
    status, failed, summary, output, seconds = _run(_selection(m.tests), m.name, python)
    if status == 1 and failed:
        verdict = "caught"
    elif status == 0:
        verdict = "SURVIVED"
    else:
        verdict = f"error (pytest exit {status})"
    return {
        "mutant": m,
        "verdict": verdict,
        "by": failed[:1],
        "summary": summary,
        "output": output,
        "seconds": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", metavar="MUTANT", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--python", default=sys.executable, help="the interpreter for pytest")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="pytest runs at a time (default: up to 4)",
    )
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS.values():
            print(f"{m.name:36} {m.description}")
        return 0
    unknown = sorted(set(args.only) - set(MUTANTS))
    if unknown:
        parser.error(f"unknown mutants {unknown}; see --list")
    chosen = [MUTANTS[name] for name in args.only] if args.only else list(MUTANTS.values())
    backend = os.environ.get("KERAS_BACKEND", "(KERAS_BACKEND unset)")
    print(f"{len(chosen)} mutants, backend: {backend}, {args.jobs} at a time", flush=True)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda m: _plant(m, args.python), chosen))
    for row in rows:
        print(f"{row['mutant'].name}: {row['verdict']}: {row['summary']} [{row['seconds']:.0f} s]")
        if row["verdict"].startswith("error"):
            print(row["output"][-3000:])
    # A test that fails without any mutant catches nothing: run each catching test unpatched.
    catching = sorted({test for row in rows for test in row["by"]})
    if catching:
        status, failed, summary, output, seconds = _run(catching, None, args.python)
        print(f"control, the catching tests without a mutant: {summary} [{seconds:.0f} s]")
        if status not in (0, 1):
            print(output[-3000:])
            failed = catching
        for row in rows:
            if set(row["by"]) & set(failed):
                row["verdict"] = "error (its test fails without the mutant)"
    print()
    print("| mutant | planted bug | verdict | first failing test |")
    print("|---|---|---|---|")
    for row in rows:
        by = row["by"][0] if row["by"] else row["summary"]
        print(f"| {row['mutant'].name} | {row['mutant'].description} | {row['verdict']} | {by} |")
    missed = [row["mutant"].name for row in rows if row["verdict"] != "caught"]
    caught = len(rows) - len(missed)
    print(f"\n{caught}/{len(rows)} caught in {time.perf_counter() - started:.0f} s", end="")
    print(f"; not caught: {', '.join(missed)}" if missed else "")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
