"""Fuzzing `check` and `params` with mutations of real saved models.

Hypothesis mutates `.keras` files saved by Keras: bytes flipped, files cut
short, JSON values of the wrong type, keys removed, huge numbers, deep
nesting, zip headers rewritten. Whatever the file, each command returns 0, 1
or 2; a 2 comes with exactly one line on stderr; nothing raises, and no error
reaches the catch-all that prints "unexpected". The runs are derandomized with
a fixed number of examples, so CI sees the same 1,200 cases every time.
"""

import contextlib
import copy
import io
import json
import os
import signal
import struct
import subprocess
import sys
import warnings
import zipfile

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import layers

from keras_tdplus.cli import main

# The full budget (1,200 cases across both commands) runs once per CI run, in
# the jax env; the tensorflow and torch envs run the first 50 per command of
# the same mutations, to cover what differs between backends (shape inference,
# building).
EXAMPLES_PER_COMMAND = 600 if keras.config.backend() == "jax" else 50
# A guard against a hang, not a speed target: a case stuck this long fails.
_HANG_GUARD_S = 120

_REPLACEMENTS = [
    None,
    True,
    -1,
    0,
    3,
    10**12,
    10**30,
    1.5,
    float("inf"),
    "",
    "x" * 300,
    "/etc/passwd",
    [],
    {},
    [None, None],
    [-5, 3],
    ["a", 0, 0],
    {"class_name": "Dense"},
    {"class_name": "__lambda__", "config": {"code": "", "defaults": None, "closure": None}},
    {"class_name": "__keras_tensor__", "config": {"keras_history": ["nowhere", 0, 0]}},
]
_DELETE = object()


def _nest(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


_REPLACEMENTS += [_nest(40), _nest(150), _DELETE]


def _functional():
    a, b = keras.Input((5, 2), name="a"), keras.Input((5, 3), name="b")
    merged = layers.Concatenate()([a, b])
    hidden = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(merged)
    shared = layers.Dense(3)
    out = layers.Add()([shared(hidden), shared(hidden)])
    return keras.Model([a, b], layers.TimeDistributed(layers.Dense(1))(out))


def _nested():
    inner = keras.Sequential([keras.Input((6, 2)), layers.Conv1D(3, 2), layers.GRU(2)])
    return keras.Sequential([keras.Input((6, 2)), inner, layers.Dense(1)])


def _sequential():
    return keras.Sequential(
        [
            keras.Input((5, 1)),
            layers.LSTM(5, return_sequences=True),
            layers.LayerNormalization(),
            layers.TimeDistributed(layers.Dense(1)),
        ]
    )


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """`[(file bytes, parsed config.json)]` of real models saved by Keras."""
    folder = tmp_path_factory.mktemp("originals")
    saved = []
    for index, make in enumerate((_sequential, _functional, _nested)):
        keras.utils.set_random_seed(index)
        path = folder / f"model{index}.keras"
        make().save(path)
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        saved.append((path.read_bytes(), config))
    return saved


def _paths(value, prefix=()):
    """Every key path in a JSON value."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutate_json(config, path, replacement):
    config = copy.deepcopy(config)
    if not path:
        return replacement if replacement is not _DELETE else {}
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if replacement is _DELETE:
        del parent[key]
    else:
        parent[key] = copy.deepcopy(replacement)
    return config


def _rezip(original, config_bytes):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = config_bytes if info.filename == "config.json" else source.read(info)
            target.writestr(info, data)
    return out.getvalue()


def _zip_trick(original, trick, value):
    data = bytearray(original)
    if trick == "duplicate config":
        with zipfile.ZipFile(io.BytesIO(original)) as source:
            first = source.read("config.json")
        out = io.BytesIO()
        out.write(original)
        with zipfile.ZipFile(out, "a") as archive, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name": the point of the trick.
            archive.writestr("config.json", first[: value % (len(first) + 1)])
        return out.getvalue()
    headers = [i for i in range(len(data) - 4) if data[i : i + 4] == b"PK\x01\x02"]
    if not headers:
        return bytes(data)
    at = headers[value % len(headers)]
    field = {"flags": 8, "method": 10, "crc": 16, "compressed": 20, "size": 24, "offset": 42}
    offset = field[trick]
    width = 2 if trick in ("flags", "method") else 4
    struct.pack_into("<H" if width == 2 else "<I", data, at + offset, value % (2 ** (8 * width)))
    return bytes(data)


@st.composite
def mutations(draw, originals):
    original, config = draw(st.sampled_from(originals))
    kind = draw(st.sampled_from(["json", "json", "json", "bytes", "truncate", "zip"]))
    if kind == "json":
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(_paths(config)))
            config = _mutate_json(config, path, draw(st.sampled_from(_REPLACEMENTS)))
        return _rezip(original, json.dumps(config).encode())
    if kind == "bytes":
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "truncate":
        return original[: draw(st.integers(0, len(original) - 1))]
    trick = draw(
        st.sampled_from(
            ["flags", "method", "crc", "compressed", "size", "offset", "duplicate config"]
        )
    )
    return _zip_trick(original, trick, draw(st.integers(0, 2**32)))


def _hang_guard(signum, frame):
    raise TimeoutError(f"a fuzz case ran past the {_HANG_GUARD_S} s hang guard")


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _hang_guard)
    signal.alarm(_HANG_GUARD_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", ["check", "params"])
def test_mutated_model_files_never_crash(originals, tmp_path, command):
    path = str(tmp_path / "mutated.keras")
    statuses = []

    @settings(
        max_examples=EXAMPLES_PER_COMMAND,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=mutations(originals))
    def run(data):
        with open(path, "wb") as file:
            file.write(data)
        status, _, err = _run([command, path])
        statuses.append(status)
        assert status in (0, 1, 2), (status, err)
        if status == 2:
            assert err.count("\n") == 1, err
            assert err.startswith(f"keras-tdplus {command}: "), err
        assert "Traceback" not in err and "unexpected" not in err, err

    with keras.device("cpu"):
        run()
    assert len(statuses) == EXAMPLES_PER_COMMAND
    # The mutations reach past the reader: some files still read, some are refused.
    assert statuses.count(2) < len(statuses) and statuses.count(2) > 0


_SUBPROCESS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)
print(done.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(done.stderr)
"""


@pytest.mark.parametrize("command", ["check", "params"])
def test_a_few_mutations_in_their_own_process(originals, tmp_path, command):
    original, config = originals[1]
    cases = {
        "deep": b'{"class_name": "Functional", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "wide": json.dumps({"class_name": "Sequential", "config": {"layers": [{}] * 20_000}}),
        "history": json.dumps(_mutate_json(config, ("config", "output_layers"), [["x", 9, 9]])),
    }
    for name, config_bytes in cases.items():
        path = tmp_path / f"{name}.keras"
        raw = config_bytes if isinstance(config_bytes, bytes) else config_bytes.encode()
        path.write_bytes(_rezip(original, raw))
        done = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS, sys.executable, "-m", "keras_tdplus"]
            + [command, str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            timeout=600,
        )
        status, peak_kib = (int(line) for line in done.stdout.split())
        assert status == 2, (name, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.startswith("keras-tdplus")]
        assert len(lines) == 1 and "Traceback" not in done.stderr, (name, done.stderr)
        assert peak_kib < 1.5 * 2**20, (name, peak_kib)


@pytest.mark.parametrize("build_config", [True, "x", [5, 1], {"input_shape": True}])
@pytest.mark.backend_independent
def test_a_junk_top_level_build_config_is_ignored_as_keras_ignores_it(
    originals, tmp_path, build_config, capsys
):
    # Found by the fuzz: `params` raised AttributeError on `"build_config": true`. Keras
    # loads such a file (the model builds from its layers), so both commands read it too.
    for index, (original, config) in enumerate(originals):
        path = tmp_path / f"model{index}.keras"
        path.write_bytes(original)
        assert main(["params", str(path)]) == 0
        expected = capsys.readouterr().out
        mutated = _mutate_json(config, ("build_config",), build_config)
        path.write_bytes(_rezip(original, json.dumps(mutated).encode()))
        assert main(["params", str(path)]) == 0
        assert capsys.readouterr().out == expected
        assert main(["check", str(path)]) in (0, 1)
        assert "unexpected" not in capsys.readouterr().err


@pytest.mark.parametrize("axis", [7, 10**30, 1.5])
def test_an_axis_keras_cannot_index_with_is_named_in_one_line(originals, tmp_path, axis, capsys):
    # Found by a sweep of single mutations: `params` let Keras' IndexError through.
    original, config = originals[1]
    entry = config["config"]["layers"][2]
    assert entry["class_name"] == "Concatenate"
    mutated = _mutate_json(config, ("config", "layers", 2, "config", "axis"), axis)
    path = tmp_path / "axis.keras"
    path.write_bytes(_rezip(original, json.dumps(mutated).encode()))
    for argv in (["params", str(path)], ["params", str(path), "--allow-build"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "unexpected" not in err, err
        assert f"Layer '{entry['name']}' (Concatenate)" in err, err
