"""Hostile `.keras` files, written as an attacker would, for the reader's tests.

Each maker takes a folder and a path to a real saved model (its config is the
starting point) and returns the path of the file it wrote.
"""

import json
import os
import struct
import zipfile


def saved_config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def write_config(folder, name, config, *, raw=None):
    """A `.keras` archive whose config.json holds `config` (or the bytes `raw`)."""
    path = os.path.join(folder, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", raw if raw is not None else json.dumps(config))
    return path


def sequential(*layers, input_shape=(None, 5, 1)):
    entries = [
        {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": list(input_shape), "dtype": "float32", "name": "input"},
            "registered_name": None,
        }
    ]
    entries += list(layers)
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "hostile", "trainable": True, "layers": entries},
        "registered_name": None,
    }


def lookup(class_name, vocabulary, module=True):
    entry = {
        "class_name": class_name,
        "config": {"name": "lookup", "vocabulary": vocabulary, "output_mode": "multi_hot"},
    }
    if module:
        entry["module"] = "keras.layers"
    return entry


def dense(units, name="dense"):
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": name, "units": units},
        "registered_name": None,
    }


def lambda_layer():
    """A Lambda whose function is a serialized Python lambda (bytecode)."""
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": {
                "class_name": "__lambda__",
                "config": {
                    "code": "4wAAAAAAAAAAAAAAAAEAAAADAAAA",
                    "defaults": None,
                    "closure": None,
                },
            },
        },
        "registered_name": None,
    }


def deep_json(depth):
    return b'{"class_name": "Sequential", "config": ' + b"[" * depth + b"]" * depth + b"}"


def set_flags(path, flag_bits=None, method=None, member="config.json"):
    """Rewrites the zip headers of `member`: its general-purpose flags and/or method."""
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    local = info.header_offset
    central = data.rfind(b"PK\x01\x02" + data[local + 4 : local + 6])
    for at, flag_at, method_at in ((local, 6, 8), (central, 8, 10)):
        while True:
            name_len = struct.unpack_from("<H", data, at + (26 if at == local else 28))[0]
            start = at + (30 if at == local else 46)
            if data[start : start + name_len] == member.encode():
                break
            at = data.find(b"PK\x01\x02", at + 4)
        if flag_bits is not None:
            struct.pack_into("<H", data, at + flag_at, flag_bits)
        if method is not None:
            struct.pack_into("<H", data, at + method_at, method)
    open(path, "wb").write(bytes(data))
    return path


def lying_size(folder, real_bytes, claimed):
    """A config.json whose zip directory claims `claimed` bytes but inflates to more."""
    path = write_config(folder, "lying.keras", None, raw=b" " * real_bytes + b"{}")
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("config.json")
    struct.pack_into("<I", data, info.header_offset + 22, claimed)
    central = data.find(b"PK\x01\x02", info.header_offset + 30)
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_len] == b"config.json":
            struct.pack_into("<I", data, central + 24, claimed)
        central = data.find(b"PK\x01\x02", central + 4)
    open(path, "wb").write(bytes(data))
    return path


def zip_bomb(folder, inflated_bytes):
    """A small archive whose config.json inflates to `inflated_bytes` of valid JSON."""
    path = os.path.join(folder, "bomb.keras")
    chunk = b" " * 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("config.json", "w", force_zip64=True) as member:
            member.write(b"{")
            for start in range(0, inflated_bytes - 2, len(chunk)):
                member.write(chunk[: min(len(chunk), inflated_bytes - 2 - start)])
            member.write(b"}")
    return path


def many_entries(folder, count):
    path = os.path.join(folder, "many.keras")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("config.json", "{}")
        for index in range(count):
            archive.writestr(f"x/{index}", b"")
    return path
