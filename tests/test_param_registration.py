"""register_param_formula, layers built on another shape, and the fixes params gives."""

import keras
import pytest
from keras import layers

import keras_tdplus
from keras_tdplus.params import WeightSpec, count_params, explain_params, param_table

pytestmark = pytest.mark.backend_independent


@keras.saving.register_keras_serializable(package="test_param_registration")
class _Gated(layers.Layer):
    """A user's layer: a trainable gate per feature and a frozen running count."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.seen = self.add_weight(shape=(), name="seen", trainable=False)

    def call(self, x):
        return x @ self.kernel

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _gated_weights(layer, input_shape):
    return [
        WeightSpec("kernel", (input_shape[-1], layer.units), True),
        WeightSpec("seen", (), False),
    ]


@pytest.fixture
def registered():
    keras_tdplus.register_param_formula(_Gated, _gated_weights)
    yield
    from keras_tdplus.params._registry import REGISTRY

    REGISTRY.pop(_Gated)


def test_unregistered_class_asks_for_a_formula():
    with pytest.raises(ValueError, match=r"register one with keras_tdplus\.register_param_formula"):
        count_params(_Gated(2, name="gated"), (None, 3))


def test_registered_class_counts_like_keras_without_building(registered):
    layer = _Gated(2)
    explanation = explain_params(layer, (None, 4, 3))
    assert not layer.built
    layer.build((None, 4, 3))
    assert (explanation.total, explanation.trainable) == (layer.count_params(), 6)
    assert explanation.non_trainable == 1


def test_registered_class_counts_in_models_configs_and_frozen(registered):
    model = keras.Sequential([keras.Input((4, 3)), _Gated(2), layers.Dense(1)])
    for source in (model, model.get_config()):
        assert param_table(source).total == model.count_params() == 6 + 1 + 2 + 1
    frozen = _Gated(2, trainable=False)
    assert explain_params(frozen, (None, 3)).trainable == 0


def test_decorator_form_and_dict_results():
    class Bias(layers.Layer):
        pass

    @keras_tdplus.register_param_formula(Bias)
    def bias_weights(layer, input_shape):
        return {"bias": (input_shape[-1],)}

    try:
        assert explain_params(Bias(), (None, 7)).trainable == 7
    finally:
        from keras_tdplus.params._registry import REGISTRY

        REGISTRY.pop(Bias)


def test_bad_registrations_are_refused():
    with pytest.raises(TypeError, match=r"expected a subclass of keras\.layers\.Layer"):
        keras_tdplus.register_param_formula(int, _gated_weights)
    with pytest.raises(TypeError, match=r"expected a function formula\(layer, input_shape\)"):
        keras_tdplus.register_param_formula(_Gated, "kernel")


def test_a_layer_built_on_another_shape_is_refused_naming_both_shapes():
    layer = layers.Dense(3)
    layer.build((None, 4))
    assert count_params(layer, (None, 4)) == 15
    with pytest.raises(
        ValueError,
        match=r"^Layer 'dense' \(Dense\) is already built on input_shape \(None, 4\), not on "
        r"the input_shape \(None, 8\) it was asked about: it holds 15 parameters, not 27\.",
    ):
        count_params(layer, (None, 8))


def test_a_last_step_only_recurrent_layer_gets_the_fix_check_model_gives():
    model = keras.Sequential(
        [layers.LSTM(5, name="enc"), keras_tdplus.TimeDistributedDense(1, name="head")]
    )
    with pytest.raises(keras_tdplus.SequenceShapeError) as from_params:
        param_table(model, input_shape=(None, 3, 1))
    with pytest.raises(keras_tdplus.SequenceShapeError) as from_check:
        keras_tdplus.check_model(model, input_shape=(None, 3, 1))
    fix = "  Fix: LSTM(5, return_sequences=True)  # layer 'enc'"
    assert str(from_params.value).splitlines()[-1] == fix
    assert fix in str(from_check.value).splitlines()
