"""The checks behind `keras_tdplus.testing.check_layer`, one method each.

A check returns None when it passes, a string saying what is wrong when it
fails, a `Skip` when it was not run, or a `Note` when it passed with a remark.
Inputs and outputs may be one tensor, a list or a dict of tensors; the helpers
at the top walk those structures.
"""

import copy
import inspect
import os
import tempfile
import warnings

import keras
import numpy as np
from keras import ops

__all__ = ["Checker", "Note", "Skip", "short"]


class Skip(str):
    """A check's return value meaning: not run, for this reason."""


class Note(str):
    """A check's return value meaning: passed, with this remark."""


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in value
    )


def map_shapes(fn, shapes, *others):
    """Applies `fn` to each shape tuple of a structure (a shape, a list or a dict of shapes)."""
    if _is_shape(shapes):
        return fn(tuple(shapes), *others)
    if isinstance(shapes, dict):
        return {key: map_shapes(fn, shapes[key], *(o[key] for o in others)) for key in shapes}
    return [map_shapes(fn, s, *(o[i] for o in others)) for i, s in enumerate(shapes)]


def leaves(structure):
    """The tensors (or shapes) of a structure, in a fixed order."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in leaves(structure[key])]
    if isinstance(structure, (list, tuple)) and not _is_shape(structure):
        return [leaf for item in structure for leaf in leaves(item)]
    return [structure]


def _map_tensors(fn, structure):
    if isinstance(structure, dict):
        return {key: _map_tensors(fn, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_map_tensors(fn, value) for value in structure]
    return fn(structure)


def shapes_of(structure):
    return _map_tensors(lambda t: tuple(t.shape), structure)


def dtypes_of(structure):
    return [keras.backend.standardize_dtype(t.dtype) for t in leaves(structure)]


def to_numpy(structure):
    return _map_tensors(lambda t: np.asarray(ops.convert_to_numpy(t)), structure)


def _plain(shapes):
    """A structure of shapes with tuples for shapes and lists for sequences, for comparing."""
    if _is_shape(shapes):
        return tuple(None if d is None else int(d) for d in shapes)
    if isinstance(shapes, dict):
        return {key: _plain(value) for key, value in shapes.items()}
    return [_plain(value) for value in shapes]


def shapes_agree(expected, actual):
    """True when two structures of shapes agree; `None` on either side matches any size.

    `None` is an unknown size (a symbolic batch, or a size Keras infers from
    the input, as `EinsumDense(output_shape=(None, 4))` leaves it), not a
    wrong one. A known size that differs, a rank that differs or a structure
    that differs is a disagreement.
    """
    expected, actual = _plain(expected), _plain(actual)
    if isinstance(expected, tuple) and isinstance(actual, tuple):
        return len(expected) == len(actual) and all(
            e is None or a is None or e == a for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            shapes_agree(expected[k], actual[k]) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            shapes_agree(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return False


def short(error):
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}"[:300]


def _differs(value, default):
    try:
        return bool(value != default)
    except Exception:  # arrays and other values without a plain truth value
        return value is not default


def _overrides(layer, method):
    return getattr(type(layer), method) is not getattr(keras.layers.Layer, method)


def _seed_generator_count(layer):
    # Each keras.random.SeedGenerator keeps its state in one variable of this name.
    return sum(v.name == "seed_generator_state" for v in layer.variables)


def _max_gap(a, b):
    gaps = [
        float(np.max(np.abs(x.astype("float64") - y.astype("float64")))) if x.size else 0.0
        for x, y in zip(leaves(a), leaves(b), strict=True)
        if np.issubdtype(x.dtype, np.number)
    ]
    return max(gaps, default=0.0)


def _within(a, b, atol, rtol):
    """True when every number of `a` is within `atol + rtol * |b|` of `b` (numpy's allclose)."""
    return all(
        np.all(np.abs(x.astype("float64") - y.astype("float64")) <= atol + rtol * np.abs(y))
        for x, y in zip(leaves(a), leaves(b), strict=True)
        if np.issubdtype(x.dtype, np.number)
    )


def _lacks_a_half_kernel(error):
    """True for the error of a backend that has no kernel for an op in half precision here.

    torch on CPU ("... not implemented for 'Half'" or 'BFloat16': 3D average
    pooling, the Dirichlet draw of `CutMix`), TensorFlow on CPU ("Could
    not find device for node ... T=DT_HALF", 3D pooling): the device's gap,
    not the layer's fault; Keras' own test skips mixed precision on torch CPU.
    """
    text = str(error)
    backend = keras.config.backend()
    if backend == "torch":
        return isinstance(error, RuntimeError) and ("Half" in text or "BFloat16" in text)
    if backend == "tensorflow":
        return type(error).__name__ == "NotFoundError" and "kernels registered for op" in text
    return False


def _is_text(array):
    """True for an array of strings (`StringLookup`'s input)."""
    return array.dtype.kind in "SUO"


def _dtype(array):
    """The Keras dtype of an input array: "string" for text."""
    return "string" if _is_text(array) else str(array.dtype)


def random_array(rng, shape, dtype):
    """Test data: uniform in [-1, 1] for floats, 0 to 9 for integers."""
    if "int" in dtype:
        return rng.integers(0, 10, size=shape).astype(dtype)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.uniform(-1, 1, size=shape).astype(dtype)


class OutputLoss(keras.losses.Loss):
    """Mean squared distance of every output from 1, for the training step."""

    def call(self, y_true, y_pred):
        return ops.mean(ops.square(ops.cast(y_pred, "float32") - ops.cast(y_true, "float32")))


class Checker:
    """Holds one layer class, its arguments and test inputs; each public method is one check."""

    def __init__(self, layer_cls, init_kwargs, input_shape, input_dtype, input_data, options):
        self.layer_cls = layer_cls
        self.init_kwargs = dict(init_kwargs or {})
        self.options = options
        self.call_kwargs = dict(options["call_kwargs"] or {})
        self.atol = options["atol"]
        self.rtol = options["rtol"]
        if input_data is not None:
            self.data = to_numpy(input_data)
            self.input_shape = shapes_of(self.data)
        else:
            self.input_shape = _plain(input_shape)
            dtypes = input_dtype or "float32"
            if isinstance(dtypes, str):
                dtypes = map_shapes(lambda _, dtype=dtypes: dtype, self.input_shape)
            rng = np.random.default_rng(0)
            self.data = map_shapes(lambda s, d: random_array(rng, s, d), self.input_shape, dtypes)
        self.single = isinstance(self.data, np.ndarray)

    # Building blocks -------------------------------------------------------

    def make(self, **overrides):
        """A new layer; layer arguments (a wrapper's `layer`, RNN cells) are fresh copies too."""
        kwargs = {**self.init_kwargs, **overrides}
        return self.layer_cls(**{key: _fresh(value) for key, value in kwargs.items()})

    def symbolic_inputs(self, batch=True):
        def one(shape, array, name=None):
            batch_shape = shape if batch else (None, *shape[1:])
            return keras.Input(batch_shape=batch_shape, dtype=_dtype(array), name=name)

        if isinstance(self.input_shape, dict):
            # A Functional model matches a dict of inputs by the tensors' names.
            return {key: one(shape, self.data[key], key) for key, shape in self.input_shape.items()}
        return map_shapes(one, self.input_shape, self.data)

    def call(self, layer, inputs):
        if self.options["unpack_inputs"]:
            if isinstance(inputs, dict):
                return layer(**inputs, **self.call_kwargs)
            return layer(*inputs, **self.call_kwargs)
        return layer(inputs, **self.call_kwargs)

    def build_layer(self, layer):
        """`layer.build` on the input shapes, unpacked as `call` takes them."""
        return self._with_shapes(layer, layer.build)

    def declared_output_shape(self, layer):
        return self._with_shapes(layer, layer.compute_output_shape)

    def _with_shapes(self, layer, method):
        # Keras' own rule (Layer._maybe_build): the shape of call argument
        # `x` goes to `x_shape`, and a method of one argument gets the first.
        shapes = self.input_shape
        if not self.options["unpack_inputs"]:
            return method(shapes)
        if isinstance(shapes, dict):
            named = {f"{key}_shape": shape for key, shape in shapes.items()}
        else:
            arguments = list(inspect.signature(layer.call).parameters)
            named = {f"{name}_shape": shape for name, shape in zip(arguments, shapes, strict=False)}
        parameters = [
            p
            for p in inspect.signature(method).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if len(parameters) == 1:
            return method(next(iter(named.values())))
        accepted = {p.name for p in parameters}
        return method(**{key: shape for key, shape in named.items() if key in accepted})

    def model(self, layer):
        inputs = self.symbolic_inputs(batch=False)
        return keras.Model(inputs, self.call(layer, inputs))

    def predict(self, model):
        batch = leaves(self.input_shape)[0][0]
        return model.predict(self.feed(), verbose=0, batch_size=batch)

    def feed(self):
        """The inputs for `predict` and `fit`: text as tensors (Keras takes no numpy text)."""
        return _map_tensors(lambda a: ops.convert_to_tensor(a) if _is_text(a) else a, self.data)

    def random(self, layer):
        """True when the layer draws random numbers, so two calls may differ."""
        return _seed_generator_count(layer) > 0

    def differ(self, actual, expected, what):
        """None when the outputs agree within atol and rtol, else what is wrong."""
        if _within(actual, expected, self.atol, self.rtol):
            return None
        gap = _max_gap(actual, expected)
        return f"{what} (max gap {gap:.3g}; atol {self.atol}, rtol {self.rtol})"

    def counts(self, layer, when):
        expected = {
            "trainable weights": self.options["expected_num_trainable_weights"],
            "non-trainable weights": self.options["expected_num_non_trainable_weights"],
            "seed generators": self.options["expected_num_seed_generators"],
        }
        actual = {
            "trainable weights": len(layer.trainable_weights),
            "non-trainable weights": len(layer.non_trainable_weights),
            "seed generators": _seed_generator_count(layer),
        }
        for name, number in expected.items():
            if number is not None and actual[name] != number:
                return f"{actual[name]} {name} {when}, expected {number}"
        return None

    def expected_output(self, outputs, where):
        shapes = shapes_of(outputs)
        shape = self.options["expected_output_shape"]
        if shape is not None and not shapes_agree(shape, shapes):
            return f"{where} output shape {_plain(shapes)}, expected {_plain(shape)}"
        dtype = self.options["expected_output_dtype"]
        if dtype is not None:
            wanted = [dtype] * len(leaves(outputs)) if isinstance(dtype, str) else leaves(dtype)
            if dtypes_of(outputs) != [keras.backend.standardize_dtype(d) for d in wanted]:
                return f"{where} output dtype {dtypes_of(outputs)}, expected {dtype}"
        return None

    # The checks, in the order of CHECKS -------------------------------------

    def config_round_trip(self):
        layer = self.make()
        config = layer.get_config()
        # An argument may stay out of the config while it has its default (Keras
        # leaves out a None activity_regularizer); one given another value may not.
        parameters = inspect.signature(self.layer_cls.__init__).parameters.values()
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        missing = [
            p.name
            for p in parameters
            if p.kind in named
            and p.name != "self"
            and p.name not in config
            and (
                p.default is p.empty or _differs(self.init_kwargs.get(p.name, p.default), p.default)
            )
        ]
        if missing:
            return (
                f"get_config() leaves out the constructor argument(s) {missing}, so a "
                "reloaded layer falls back to their defaults; add them to get_config()"
            )
        # Some from_config methods (Keras' Wrapper's) pop keys from their argument.
        clone = self.layer_cls.from_config(_copy_config(config))
        if clone.get_config() != config:
            return f"from_config(get_config()) gives a different config: {clone.get_config()}"
        serialized = keras.saving.serialize_keras_object(layer)
        try:
            restored = keras.saving.deserialize_keras_object(serialized)
        except TypeError as error:
            return (
                f"deserialize_keras_object cannot rebuild it ({short(error)[:80]}...); "
                "is the class registered with keras.saving.register_keras_serializable?"
            )
        if type(restored) is not self.layer_cls:
            return (
                f"deserialize_keras_object gave {type(restored).__name__}; is the class "
                "registered with keras.saving.register_keras_serializable?"
            )
        return None

    def build(self):
        layer = self.make()
        self.build_layer(layer)
        if not layer.built:
            return "layer.built is False after build(); call super().build() or set it"
        return self.counts(layer, "after build()")

    def symbolic_call(self):
        layer = self.make()
        outputs = self.call(layer, self.symbolic_inputs())
        return self.counts(layer, "after a symbolic call") or self.expected_output(
            outputs, "symbolic"
        )

    def eager_call(self):
        symbolic = self.call(self.make(), self.symbolic_inputs())
        layer = self.make()
        eager = self.call(layer, self.data)
        if not shapes_agree(shapes_of(symbolic), shapes_of(eager)):
            source = (
                "compute_output_shape" if _overrides(layer, "compute_output_shape") else "tracing"
            )
            return (
                f"eager output shape {_plain(shapes_of(eager))} != symbolic output shape "
                f"{_plain(shapes_of(symbolic))} (from {source}); Keras models use the symbolic one"
            )
        if dtypes_of(eager) != dtypes_of(symbolic):
            return f"eager output dtype {dtypes_of(eager)} != symbolic {dtypes_of(symbolic)}"
        problem = self.expected_output(eager, "eager")
        if problem:
            return problem
        losses = self.options["expected_num_losses"]
        if losses is not None and len(layer.losses) != losses:
            return f"{len(layer.losses)} losses after an eager call, expected {losses}"
        if self.random(layer):
            return Note("values not compared with a model's: the layer draws random numbers")
        graph = self.predict(self.model(layer))
        return self.differ(to_numpy(eager), graph, "eager and compiled-model outputs differ")

    def compute_output_shape(self):
        layer = self.make()
        if not _overrides(layer, "compute_output_shape"):
            return Skip(
                "not defined; Keras infers shapes by tracing call (compute_output_spec), "
                "which works. Defining it is recommended, not required"
            )
        eager = _plain(shapes_of(self.call(layer, self.data)))
        declared = _plain(self.declared_output_shape(layer))
        if not shapes_agree(declared, eager):
            return f"compute_output_shape gives {declared}, the layer's output is {eager}"
        return None

    def built_after_instantiation(self):
        claim = self.options["built_after_instantiation"]
        if claim is None:
            return Skip("not claimed; pass built_after_instantiation=True for a stateless layer")
        layer = self.make()
        if bool(layer.built) != claim:
            return (
                f"layer.built is {layer.built} right after construction, expected {claim}; "
                "Keras builds a layer at construction only when it does not override build()"
            )
        if claim:
            # Keras' own check: overriding build() must make the layer unbuilt again.
            with_build = type(self.layer_cls.__name__, (self.layer_cls,), {"build": _no_build})
            if with_build(**self.init_kwargs).built:
                return "a subclass that overrides build() is still built at construction"
        return None

    def masking(self):
        declared = self.options["supports_masking"]
        behavior = self.options["mask_behavior"]
        if declared is None and behavior is None:
            return Skip(
                "no mask_behavior declared; pass 'pass_through' or 'drop' (or supports_masking)"
            )
        layer = self.make()
        if declared is not None and bool(layer.supports_masking) != declared:
            return f"supports_masking is {layer.supports_masking}, expected {declared}"
        if behavior is None:
            return None
        if not self.single:
            return Skip("mask_behavior is checked for a layer of one (batch, time, ...) input")
        if behavior == "pass_through" and not layer.supports_masking:
            return (
                "declared mask_behavior='pass_through' but supports_masking is False, so "
                "Keras drops the mask before the layer; set self.supports_masking = True"
            )
        mask = np.ones(self.input_shape[:2], bool)
        mask[:, -1] = False
        layer.build(self.input_shape)
        # Keras drops the mask after a layer that does not support masking,
        # whatever its compute_mask returns.
        out_mask = (
            layer.compute_mask(ops.convert_to_tensor(self.data), ops.convert_to_tensor(mask))
            if layer.supports_masking
            else None
        )
        if behavior == "pass_through":
            if out_mask is None or not np.array_equal(to_numpy(out_mask), mask):
                return "declared mask_behavior='pass_through' but the mask was not passed on"
        elif out_mask is not None:
            return "declared mask_behavior='drop' but the layer returned a mask"
        masked_input = np.where(mask[..., None], self.data.reshape(*mask.shape, -1), 0.0)
        inputs = keras.Input(batch_shape=self.input_shape, dtype=str(self.data.dtype))
        masked = keras.layers.Masking(0.0)(inputs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.Model(inputs, self.call(layer, masked))
            model.predict(masked_input.reshape(self.input_shape), verbose=0)
        dropped = [w for w in caught if "mask" in str(w.message).lower()]
        if behavior == "pass_through" and dropped:
            return f"Keras warned about the mask in a model: {str(dropped[0].message)[:150]}"
        return None

    def training_step(self):
        layer = self.make()
        model = self.model(layer)
        model.compile(optimizer="adam", loss=OutputLoss(), jit_compile=self.options["jit_compile"])
        before = [np.array(w) for w in model.get_weights()]
        outputs = model.predict(self.feed(), verbose=0)
        targets = _map_tensors(lambda t: np.ones(t.shape, "float32"), outputs)
        batch = leaves(self.input_shape)[0][0]
        history = model.fit(self.feed(), targets, epochs=2, batch_size=batch, verbose=0)
        losses = history.history["loss"]
        if not np.all(np.isfinite(losses)):
            return f"training loss is not finite: {losses}"
        if layer.trainable_weights and all(
            np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)
        ):
            return "two training steps left every weight unchanged; do gradients reach them?"
        return None

    def jit(self):
        layer = self.make()
        eager = to_numpy(self.call(layer, self.data))
        model = self.model(layer)
        model.compile(jit_compile=True)
        compiled = self.predict(model)
        if not shapes_agree(shapes_of(compiled), shapes_of(eager)):
            return f"jit-compiled output shape {_plain(shapes_of(compiled))} != eager"
        if self.random(layer):
            return Note("values not compared: the layer draws random numbers")
        return self.differ(compiled, eager, "jit-compiled and eager outputs differ")

    def mixed_precision(self, policy):
        compute_dtype = policy.split("_")[-1]
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            layer = self.make()
            try:
                eager = self.call(layer, self.data)
            except Exception as error:
                if _lacks_a_half_kernel(error):
                    return Skip(
                        f"{keras.config.backend()} on this device lacks a kernel for "
                        f"{compute_dtype}: {short(error)}"
                    )
                raise
            # What a model holding the layer sees: a symbolic call, inside
            # the layer's autocast scope, as in a Functional model.
            symbolic = self.call(layer, self.symbolic_inputs())
        finally:
            keras.config.set_dtype_policy(previous)
        # On torch, Keras traces call without its autocast, so a traced
        # symbolic output keeps float32 where the call gives the compute dtype
        # (Keras' own test skips mixed precision on torch). A declared
        # compute_output_shape is still compared.
        traced_on_torch = keras.config.backend() == "torch" and not _overrides(
            layer, "compute_output_shape"
        )
        if dtypes_of(eager) != dtypes_of(symbolic) and not traced_on_torch:
            return (
                f"under {policy} the eager output dtype is {dtypes_of(eager)} but the "
                f"symbolic one is {dtypes_of(symbolic)}; Keras models use the symbolic one"
            )
        for weight in layer.weights:
            dtype = keras.backend.standardize_dtype(weight.dtype)
            if "float" in dtype and dtype != "float32":
                return f"weight {weight.name} is {dtype} under {policy}, expected float32"
        values = to_numpy(eager)
        if not all(np.all(np.isfinite(v.astype("float32"))) for v in leaves(values)):
            return f"non-finite outputs under {policy}"
        reference = self.make()
        self.call(reference, self.symbolic_inputs())
        reference.set_weights(layer.get_weights())
        expected = to_numpy(self.call(reference, self.data))
        if not self.random(layer):
            scale = max([1.0] + [float(np.max(np.abs(e))) for e in leaves(expected) if e.size])
            gap = _max_gap(values, expected)
            if gap > 0.05 * scale:
                return f"{policy} output is {gap:.3g} from float32 (tolerance {0.05 * scale:.3g})"
        floats = [d for d in dtypes_of(eager) if "float" in d]
        if floats and any(d != compute_dtype for d in floats):
            return Note(f"outputs are {floats}, not the policy's compute dtype {compute_dtype}")
        return None

    def keras_file_round_trip(self):
        model = self.model(self.make())
        expected = self.predict(model)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "layer.keras")
            model.save(path)
            restored = keras.saving.load_model(path)
        actual = self.predict(restored)
        if self.random(model):
            return Note("reloaded; values not compared: the layer draws random numbers")
        return self.differ(actual, expected, "reloaded model predicts differently")

    def time_distributed(self):
        from keras_tdplus.layers import TimeDistributed

        if not self.single:
            return Skip("TimeDistributed wraps a layer of one input tensor")
        if isinstance(self.call(self.make(), self.data), (list, tuple, dict)):
            return Skip("TimeDistributed wraps a layer of one output tensor")
        steps = 3
        inner = self.make()
        wrapper = TimeDistributed(inner)
        shape = (self.input_shape[0], steps, *self.input_shape[1:])
        if _is_text(self.data):  # the same strings at every step
            x = np.repeat(self.data[:, None], steps, axis=1)
        else:
            x = random_array(np.random.default_rng(1), shape, str(self.data.dtype))
        outputs = self.call(wrapper, x)
        outputs = to_numpy(outputs)
        per_step = np.stack(
            [to_numpy(self.call(inner, x[:, t])) for t in range(steps)],
            axis=1,
        )
        if outputs.shape != per_step.shape:
            return f"TimeDistributed output shape {outputs.shape} != per-step {per_step.shape}"
        if self.random(inner):
            return Note("values not compared: the layer draws random numbers")
        return self.differ(
            outputs, per_step, "TimeDistributed output differs from the per-step outputs"
        )


def _copy_config(value):
    """A deep copy of a config; Keras' tracked lists (`value_range`) become plain lists."""
    if isinstance(value, dict):
        return {key: _copy_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_config(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_copy_config(item) for item in value)
    return copy.deepcopy(value)


def _without_dtypes(config):
    """A layer config without its dtype policy, nor those of the layers serialized in it."""
    return {
        key: [_serialized_without_dtypes(x) for x in item]
        if isinstance(item, list)
        else _serialized_without_dtypes(item)
        for key, item in config.items()
        if key != "dtype"
    }


def _serialized_without_dtypes(item):
    """A serialized layer (`{"class_name", "config"}`) without dtypes; other values as they are."""
    if isinstance(item, dict) and {"class_name", "config"} <= item.keys():
        return {**item, "config": _without_dtypes(item["config"])}
    return item


def _fresh(value):
    """A new copy of a layer argument (or of each layer in a list of them); others as they are."""
    if isinstance(value, keras.layers.Layer):
        # Dropping the dtypes (its own and its nested layers') lets the copy
        # follow the current policy, as a layer built inside the policy
        # scope would.
        return type(value).from_config(_without_dtypes(value.get_config()))
    if isinstance(value, (list, tuple)) and any(isinstance(v, keras.layers.Layer) for v in value):
        return type(value)(_fresh(v) for v in value)
    return value


def _no_build(self, *args, **kwargs):
    """A build() that does nothing, for the built-after-instantiation check."""
