"""The echo experiments: shapes, parameter counts, convergence, determinism."""

import types

import keras
import numpy as np
import pytest

from keras_tdplus import echo

# Final training loss each experiment must get below on every backend. Measured
# here with seed 0: one_to_one 2e-5..1.2e-4, many_to_one 3e-15..3e-7,
# many_to_many 5.6e-4..1.1e-3; the thresholds leave room for float noise across
# machines, not for a model that fails to learn (an untrained one is ~0.1).
FINAL_LOSS_THRESHOLD = {
    "one_to_one": 1e-3,
    "many_to_one": 1e-4,
    "many_to_many": 5e-3,
    "many_to_many_tdplus": 5e-3,
}

EXPECTED_LAYERS = {
    "one_to_one": [("LSTM", (None, 5), 140), ("Dense", (None, 1), 6)],
    "many_to_one": [("LSTM", (None, 5), 140), ("Dense", (None, 5), 30)],
    "many_to_many": [("LSTM", (None, 5, 5), 140), ("TimeDistributed", (None, 5, 1), 6)],
    "many_to_many_tdplus": [
        ("LSTM", (None, 5, 5), 140),
        ("TimeDistributedDense", (None, 5, 1), 6),
    ],
}


@pytest.fixture(scope="module")
def trained():
    """Every experiment trained once with its full budget, seed 0, in order."""
    return {name: echo.run(name, seed=0) for name in echo.EXPERIMENTS}


@pytest.mark.backend_independent
def test_experiment_names():
    assert echo.EXPERIMENTS == (
        "one_to_one",
        "many_to_one",
        "many_to_many",
        "many_to_many_tdplus",
    )


@pytest.mark.parametrize(
    "name, x_shape, y_shape, epochs, batch_size",
    [
        ("one_to_one", (5, 1, 1), (5, 1), 1000, 5),
        ("many_to_one", (1, 5, 1), (1, 5), 500, 1),
        ("many_to_many", (1, 5, 1), (1, 5, 1), 1000, 1),
        ("many_to_many_tdplus", (1, 5, 1), (1, 5, 1), 1000, 1),
    ],
)
@pytest.mark.backend_independent
def test_data_and_budget_are_the_articles(name, x_shape, y_shape, epochs, batch_size):
    experiment = echo.get_experiment(name)
    x, y = experiment.data()
    assert x.shape == x_shape and y.shape == y_shape
    np.testing.assert_allclose(x.ravel(), [0.0, 0.2, 0.4, 0.6, 0.8], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(x.ravel(), y.ravel())
    assert (experiment.epochs, experiment.batch_size) == (epochs, batch_size)


@pytest.mark.parametrize("name", echo.EXPERIMENTS)
def test_parameter_counts_and_layer_rows(name):
    result = echo.run(name, epochs=0)
    rows = [(cls, shape, count) for _, cls, shape, count in result.layer_params]
    assert rows == EXPECTED_LAYERS[name]
    assert result.params == sum(count for _, _, count in EXPECTED_LAYERS[name])
    lines = result.summary.splitlines()
    for layer_name, cls, shape, count in result.layer_params:
        row = next(line for line in lines if line.startswith(f"│ {layer_name} "))
        assert str(shape) in row and row.rstrip(" │").endswith(f"{count:,}")
        assert f"({cls})" in result.summary
    assert f"Total params: {result.params}" in result.summary


def test_totals_are_the_articles():
    totals = {name: echo.run(name, epochs=0).params for name in echo.EXPERIMENTS}
    assert totals == {
        "one_to_one": 146,
        "many_to_one": 170,
        "many_to_many": 146,
        "many_to_many_tdplus": 146,
    }


@pytest.mark.slow
@pytest.mark.xdist_group("echo_trained")  # one worker trains the fixture's four runs
@pytest.mark.parametrize("name", echo.EXPERIMENTS)
def test_each_experiment_learns_the_echo(trained, name):
    result = trained[name]
    experiment = echo.get_experiment(name)
    assert result.predictions.shape == experiment.y_shape
    assert len(result.loss_history) == experiment.epochs
    np.testing.assert_allclose(result.predictions, result.targets, rtol=0, atol=0.1)
    assert result.final_loss < FINAL_LOSS_THRESHOLD[name]
    assert result.final_loss < result.loss_history[0] / 10


@pytest.mark.slow
@pytest.mark.xdist_group("echo_trained")
def test_one_decimal_echo_of_many_to_many_is_fragile_and_measured(trained, record_property):
    """many_to_many lands within 0.1 of every target, but not always within 0.05.

    Its max-abs-error is about 0.05-0.08, so rounding to one decimal (what the
    article prints) gives the exact echo for some seeds and not others. This
    test holds the 0.1 bound over three seeds and records the one-decimal rate;
    the README's table has the rate over more seeds per backend.
    """
    runs = [trained["many_to_many"]] + [echo.run("many_to_many", seed=s) for s in (1, 2)]
    for result in runs:
        np.testing.assert_allclose(result.predictions, result.targets, rtol=0, atol=0.1)
    row = echo.Convergence.from_results(runs)
    record_property("many_to_many_one_decimal_echo", f"{row.echoed}/{len(runs)}")
    assert row.worst_error < 0.1
    assert row.seeds == (0, 1, 2)


def test_same_seed_same_predictions_whatever_ran_before():
    alone = echo.run("many_to_many", seed=3, epochs=30)
    echo.run("many_to_one", seed=7, epochs=5)
    after_others = echo.run("many_to_many", seed=3, epochs=30)
    np.testing.assert_array_equal(after_others.predictions, alone.predictions)
    assert after_others.loss_history == alone.loss_history


# one_to_one trains on a batch of five samples (the per-epoch fit shuffles them),
# the others on one sample; the tdplus variant runs our layer in the fast loop.
# On torch the fast run is keras_tdplus.echo._torch_loop's loop, on the others one
# `fit` over the repeated batch.
@pytest.mark.parametrize("name", echo.EXPERIMENTS)
def test_the_fast_run_trains_like_one_fit_per_epoch(name):
    """The default run is the plain epoch-by-epoch `fit` made faster: same seed,
    same updates, same losses."""
    plain = echo.run(name, seed=0, epochs=50, per_epoch=True)
    fast = echo.run(name, seed=0, epochs=50)
    assert len(plain.loss_history) == len(fast.loss_history) == 50
    assert plain.loss_history[-1] < plain.loss_history[0]
    np.testing.assert_allclose(fast.loss_history, plain.loss_history, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(fast.predictions, plain.predictions, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_the_fast_run_of_a_whole_budget_ends_where_fit_per_epoch_ends():
    """Seed 0, all 500 epochs of many_to_one: final loss and predictions agree."""
    plain = echo.run("many_to_one", seed=0, per_epoch=True)
    fast = echo.run("many_to_one", seed=0)
    assert len(fast.loss_history) == 500
    np.testing.assert_allclose(fast.final_loss, plain.final_loss, rtol=1e-3, atol=1e-9)
    np.testing.assert_allclose(fast.predictions, plain.predictions, rtol=0, atol=1e-5)


@pytest.mark.backend("torch")
def test_every_experiment_takes_the_torch_loop():
    from keras_tdplus.echo import _torch_loop

    for name in echo.EXPERIMENTS:
        assert _torch_loop.supports(echo.get_experiment(name).build_model()), name


@pytest.mark.backend("torch")
@pytest.mark.parametrize(
    "change",
    [
        lambda lstm, head: setattr(lstm.cell, "dropout", 0.1),
        lambda lstm, head: setattr(lstm, "go_backwards", True),
        lambda lstm, head: setattr(head, "activation", keras.activations.relu),
        lambda lstm, head: setattr(head, "use_bias", False),
    ],
    ids=["dropout", "go_backwards", "relu_head", "no_bias"],
)
def test_a_model_the_torch_loop_does_not_reproduce_trains_with_fit(change):
    from keras_tdplus.echo import _torch_loop

    model = echo.get_experiment("many_to_one").build_model()
    change(*model.layers)
    assert not _torch_loop.supports(model)


def test_verbose_run_trains_epoch_by_epoch_and_prints_each(capsys):
    result = echo.run("many_to_one", seed=0, epochs=3, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch ")]
    assert lines == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    fast = echo.run("many_to_one", seed=0, epochs=3)
    np.testing.assert_allclose(result.loss_history, fast.loss_history, rtol=1e-6)


def test_different_seeds_give_different_models():
    a = echo.run("many_to_many", seed=0, epochs=0)
    b = echo.run("many_to_many", seed=1, epochs=0)
    assert not np.allclose(a.predictions, b.predictions)


def test_tdplus_variant_matches_stock_given_the_same_weights():
    stock = echo.get_experiment("many_to_many").build_model()
    weights = [w * 1.5 for w in stock.get_weights()]
    expected = echo.run("many_to_many", epochs=20, weights=weights)
    actual = echo.run("many_to_many_tdplus", epochs=20, weights=weights)
    np.testing.assert_allclose(actual.predictions, expected.predictions, rtol=0, atol=1e-6)
    np.testing.assert_allclose(actual.loss_history, expected.loss_history, rtol=1e-5)


def test_result_formats_predictions_like_the_article():
    result = echo.run("many_to_many", epochs=0)
    result.predictions = np.array([[[-0.0001], [0.2], [0.44], [0.61], [0.79]]])
    assert result.formatted_predictions().splitlines() == ["0.0", "0.2", "0.4", "0.6", "0.8"]
    assert result.echoes
    result.predictions[0, 2, 0] = 0.46
    assert not result.echoes


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "two_to_two"}, r"Unknown echo experiment 'two_to_two'\. Expected one of"),
        ({"name": "many_to_many", "epochs": -1}, r"`epochs`.*Received: epochs=-1"),
        ({"name": "many_to_many", "epochs": 2.5}, r"`epochs`.*Received: epochs=2\.5"),
        ({"name": "many_to_many", "seed": "x"}, r"`seed`.*Received: seed='x'"),
    ],
)
@pytest.mark.backend_independent
def test_bad_arguments_are_named(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        echo.run(name, **kwargs)


@pytest.mark.backend_independent
def test_convergence_table_lists_every_row():
    runs = [
        types.SimpleNamespace(
            name="many_to_one",
            backend="jax",
            seed=seed,
            echoes=echoes,
            max_abs_error=error,
            final_loss=loss,
            fit_seconds=seconds,
        )
        for seed, echoes, error, loss, seconds in [
            (0, True, 0.01, 1e-4, 1.0),
            (1, False, 0.3, 5e-2, 2.0),
            (2, True, 0.02, 2e-4, 3.0),
        ]
    ]
    rows = [echo.Convergence.from_results(runs)]
    table = echo.format_convergence_table(rows)
    assert table.splitlines()[0].startswith("| backend | experiment | seeds |")
    assert "| jax | many_to_one | 3 | 2/3 | 0.020 | 0.300 | 2.0e-04 | 2.0 |" in table
    with pytest.raises(ValueError, match="no results"):
        echo.Convergence.from_results([])
