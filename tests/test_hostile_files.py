"""Model files written by an attacker: `check` and `params` refuse each one the same way.

Every hostile file gets exit status 2 and one line on stderr that names the
file and says what was refused and why, from both commands and with
`--allow-build`; no other file is opened, no code in the file runs, and
memory stays bounded.
"""

import os
import subprocess
import sys

import keras
import pytest
from _hostile_models import (
    deep_json,
    dense,
    lambda_layer,
    lookup,
    many_entries,
    saved_config,
    sequential,
    set_flags,
    write_config,
    zip_bomb,
)
from keras import layers

import keras_tdplus as tdp
from keras_tdplus.cli import _check as check_command
from keras_tdplus.cli import main

COMMANDS = [["check"], ["params"], ["params", "--allow-build"]]
_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def good(folder):
    model = keras.Sequential(
        [keras.Input((5, 1)), layers.LSTM(5, return_sequences=True), layers.Dense(1)]
    )
    path = folder / "good.keras"
    model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def fifo(folder):
    """A named pipe nobody writes to: whoever opens it for reading waits forever."""
    path = folder / "vocabulary.fifo"
    os.mkfifo(path)
    return str(path)


def _ghost_history(good_functional_config):
    for entry in good_functional_config["config"]["layers"]:
        for node in entry.get("inbound_nodes", []):
            for arg in node["args"]:
                if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
                    arg["config"]["keras_history"][0] = "ghost"
    return good_functional_config


@pytest.fixture(scope="module")
def hostile(folder, good, fifo):
    """`{case: (path, words the one line must hold)}`."""
    inputs = keras.Input((5, 1))
    functional = keras.Model(inputs, layers.Dense(2)(layers.LSTM(3)(inputs)))
    functional_path = str(folder / "functional.keras")
    functional.save(functional_path)
    d = str(folder)
    return {
        "StringLookup vocabulary file": (
            write_config(
                d,
                "string_lookup.keras",
                sequential(lookup("StringLookup", "/etc/passwd", module=False), input_shape=[3]),
            ),
            "vocabulary='/etc/passwd'; it is never opened",
        ),
        "IntegerLookup vocabulary pipe": (
            write_config(
                d,
                "integer_lookup.keras",
                sequential(lookup("IntegerLookup", fifo), input_shape=[3]),
            ),
            "names a file outside the model",
        ),
        "StringLookup /dev/zero": (
            write_config(
                d,
                "zero_lookup.keras",
                sequential(lookup("StringLookup", "/dev/zero", module=False), input_shape=[3]),
            ),
            "vocabulary='/dev/zero'; it is never opened",
        ),
        "TextVectorization vocabulary file": (
            write_config(
                d, "text.keras", sequential(lookup("TextVectorization", fifo), input_shape=[None])
            ),
            "(TextVectorization) names a file outside the model",
        ),
        "TFSMLayer": (
            write_config(
                d,
                "tfsm.keras",
                sequential({"class_name": "TFSMLayer", "config": {"name": "t", "filepath": d}}),
            ),
            "loads a TensorFlow SavedModel",
        ),
        "Lambda bytecode": (
            write_config(d, "lambda.keras", sequential(lambda_layer())),
            "layer 'lambda' (Lambda) holds Python bytecode",
        ),
        "zip bomb": (zip_bomb(d, 80 * 2**20), "config.json inflates to more than 67108864 bytes"),
        "encrypted entry": (
            set_flags(write_config(d, "encrypted.keras", saved_config(good)), flag_bits=1),
            "config.json is encrypted",
        ),
        "compression method 99": (
            set_flags(write_config(d, "aes.keras", saved_config(good)), method=99),
            "compression method 99",
        ),
        "many zip entries": (many_entries(d, 2000), "zip directory lists 2001 entries"),
        "JSON 200,000 deep": (
            write_config(d, "deep.keras", None, raw=deep_json(200_000)),
            "nests deeper than 100 levels",
        ),
        "5,000-digit number": (
            write_config(d, "digits.keras", None, raw=b'{"config": {"a": ' + b"9" * 5000 + b"}}"),
            "is not usable JSON",
        ),
        "layers of strings": (
            write_config(
                d, "strings.keras", {"class_name": "Sequential", "config": {"layers": ["a", "b"]}}
            ),
            "Entry 0 of the model config's `layers` is not a layer config",
        ),
        "broken keras_history": (
            write_config(d, "ghost.keras", _ghost_history(saved_config(functional_path))),
            "layer 'ghost', which the model config does not define",
        ),
        "os.system": (
            write_config(d, "os.keras", {"module": "os", "class_name": "system", "config": {}}),
            "'system'",
        ),
        "character device": ("/dev/zero", "it is a character device, not a regular file"),
        "named pipe": (fifo, "it is a named pipe (FIFO), not a regular file"),
        "folder": (d, "it is a folder, not a .keras file"),
    }


CASES = [
    "StringLookup vocabulary file",
    "IntegerLookup vocabulary pipe",
    "StringLookup /dev/zero",
    "TextVectorization vocabulary file",
    "TFSMLayer",
    "Lambda bytecode",
    "zip bomb",
    "encrypted entry",
    "compression method 99",
    "many zip entries",
    "JSON 200,000 deep",
    "5,000-digit number",
    "layers of strings",
    "broken keras_history",
    "os.system",
    "character device",
    "named pipe",
    "folder",
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.backend_independent
def test_a_hostile_file_gets_status_2_and_one_line(hostile, case, command, capsys):
    path, words = hostile[case]
    assert main([command[0], path, *command[1:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"keras-tdplus {command[0]}: ")
    assert repr(path) in err
    assert words in err
    assert "Traceback" not in err and "unexpected" not in err
    assert "import the module" not in err


@pytest.mark.backend_independent
def test_the_lookup_vocabulary_is_never_opened_even_with_unsafe_deserialization(hostile, fifo):
    # Opening the pipe for reading would wait forever for a writer: the timeout fails the test.
    path, _ = hostile["IntegerLookup vocabulary pipe"]
    script = (
        "import sys, keras; keras.config.enable_unsafe_deserialization(); "
        "from keras_tdplus.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    for argv in (["params", path, "--allow-build"], ["check", path]):
        done = subprocess.run(
            [sys.executable, "-c", script, *argv],
            capture_output=True,
            text=True,
            env=_ENV,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "it is never opened" in done.stderr


@pytest.mark.backend_independent
def test_a_config_dict_naming_a_vocabulary_file_is_refused(fifo):
    config = {"class_name": "StringLookup", "config": {"name": "s", "vocabulary": fifo}}
    with pytest.raises(ValueError, match=r"names a file outside the model.*never opened"):
        tdp.explain_params(config, (None, 3))


@pytest.mark.backend_independent
def test_param_table_refuses_what_the_commands_refuse(hostile):
    path, words = hostile["Lambda bytecode"]
    with pytest.raises(ValueError, match=r"refused: layer 'lambda' \(Lambda\) holds Python"):
        tdp.param_table(path)


@pytest.mark.backend_independent
def test_the_config_size_limit_can_be_raised(hostile, capsys):
    path, _ = hostile["zip bomb"]
    assert main(["check", path, "--max-config-mb", "100"]) == 2
    # Read in full, the 80 MiB of spaces around `{}` is a config without a model.
    assert "its config.json does not describe a model" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "params"])
@pytest.mark.backend_independent
def test_ctrl_c_exits_130(good, command, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(check_command, "read_model_file", interrupt)
    from keras_tdplus.cli import _params as params_command

    monkeypatch.setattr(params_command, "read_model_file", interrupt)
    assert main([command, good]) == 130
    assert capsys.readouterr().err == "keras-tdplus: interrupted\n"


@pytest.mark.backend_independent
def test_exit_statuses_are_in_the_help(capsys):
    for command in ("check", "params"):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "exit status:" in out
        assert "0    the model was read and checked in full" in out
        assert "130  interrupted (Ctrl-C)" in out


@pytest.mark.backend_independent
def test_check_exit_statuses(good, folder, capsys):
    assert main(["check", good]) == 0
    broken = saved_config(good)
    broken["config"]["layers"][1]["config"]["return_sequences"] = False
    broken["config"]["layers"].append(
        {"class_name": "LSTM", "config": {"name": "second", "units": 2}}
    )
    assert main(["check", write_config(str(folder), "finding.keras", broken)]) == 1
    capsys.readouterr()


_PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)
print(done.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stderr, file=sys.stderr)
"""


@pytest.mark.parametrize("command", ["check", "params"])
def test_gigabytes_of_weights_are_never_allocated(folder, command):
    # Two Dense(20000) on a 20000-wide input: 800 million weights, 3.2 GB as float32.
    config = sequential(dense(20000, "a"), dense(20000, "b"), input_shape=[None, 20000])
    path = write_config(str(folder), "big.keras", config)
    assert os.path.getsize(path) < 1000
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, sys.executable, "-m", "keras_tdplus", command, path],
        capture_output=True,
        text=True,
        env=_ENV,
        timeout=600,
    )
    status, peak_kib = (int(line) for line in done.stdout.split())
    assert status == 0, done.stderr
    assert peak_kib < 1.5 * 2**20, f"peak RSS {peak_kib / 2**20:.2f} GiB"


@pytest.mark.parametrize("key", ["vocabulary", "filepath", "merges", "proto"])
@pytest.mark.backend_independent
def test_any_layer_naming_a_file_is_refused(key):
    from keras_tdplus._config.reader import UnsafeConfig, screen

    config = sequential({"class_name": "MyTokenizer", "config": {"name": "tok", key: "/x"}})
    with pytest.raises(UnsafeConfig, match=rf"layer 'tok' \(MyTokenizer\) .* {key}='/x'"):
        screen(config)
    config["config"]["layers"][1]["config"][key] = ["a", "b"]
    screen(config)
