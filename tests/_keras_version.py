"""The installed Keras' release, for tests that state how stock Keras behaves in it.

A test that says stock Keras is wrong checks ours against a reference, and states stock's
behaviour only for the releases that have it, so a Keras fix turns the test's "differs" into
"agrees since" instead of a failure.
"""

import re

import keras

__all__ = ["KERAS", "keras_at_least"]

KERAS = tuple(int(part) for part in re.findall(r"\d+", keras.__version__)[:2])
"""`(major, minor)` of the installed Keras: `(3, 16)` for 3.16.0.dev2026102704."""


def keras_at_least(major, minor):
    """Whether the installed Keras is release `major.minor` or later (its dev builds too)."""
    return KERAS >= (major, minor)
