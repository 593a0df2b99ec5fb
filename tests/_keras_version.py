"""The installed Keras' release, for tests that state how stock Keras behaves in it.

A test that says stock Keras is wrong checks ours against a reference, and states stock's
behaviour only for the releases that have it, so a Keras fix turns the test's "differs" into
"agrees since" instead of a failure.
"""

import re

import keras
import pytest

__all__ = ["KERAS", "NEWER_LAYERS", "keras_at_least", "needs_layer", "no_such_layer"]

KERAS = tuple(int(part) for part in re.findall(r"\d+", keras.__version__)[:2])
"""`(major, minor)` of the installed Keras: `(3, 16)` for 3.16.0.dev2026102704."""


def keras_at_least(major, minor):
    """Whether the installed Keras is release `major.minor` or later (its dev builds too)."""
    return KERAS >= (major, minor)


NEWER_LAYERS = {"Mosaic": "3.16", "TernaryDense": "3.16"}
"""The `keras.layers` classes newer than the pinned Keras (3.15.1), and the release that brings
each: their tests run where the installed Keras has them (the keras-nightly env)."""


def no_such_layer(name):
    """Why a test of `keras.layers.<name>` cannot run on the installed Keras."""
    return (
        f"keras.layers.{name} is new in Keras {NEWER_LAYERS[name]}; "
        f"Keras {keras.__version__} has no such class"
    )


def needs_layer(name):
    """A mark that skips a test where the installed Keras has no `keras.layers.<name>`."""
    return pytest.mark.skipif(not hasattr(keras.layers, name), reason=no_such_layer(name))
