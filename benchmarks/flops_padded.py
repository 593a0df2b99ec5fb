"""Predicted against measured speed-up of `skip_masked_steps` on a padded batch of documents.

On the current backend (set KERAS_BACKEND), for a hierarchical model over one
padded batch of documents: word ids `(16 documents, 32 sentences, 16 words)`,
`Embedding(mask_zero=True)`, a sentence encoder in
`keras_tdplus.TimeDistributed(..., skip_masked_steps=True)`, an `LSTM(64)`
over the sentences (masked) and a `Dense` head. Two sentence encoders:

- `LSTM(64)` over the words (masked);
- two `Conv1D(128, 3)` and a max pooling over the words.

The documents keep 3 to 32 valid sentences, 35% of the padded batch in all
(`--valid` sets other counts, one per document); padding sentences are all
zero ids, at the end, and valid sentences have 4 to 16 words.

For each encoder it reports the FLOPs of a training step and of a forward
pass, padded and effective (`explain_flops(model, training=..., valid_steps=...)`,
its `.padded` and `.total`), their ratio (the predicted speed-up), and the
measured one:
the time of the same model with `skip_masked_steps=False` over the time with
`skip_masked_steps=True` (same weights, same batch), for `train_on_batch` and
`predict_on_batch`, median of `--repeats` calls after a warm-up. The two
models are timed in turn, so load from elsewhere on a shared machine falls on
both alike.

    KERAS_BACKEND=jax python benchmarks/flops_padded.py --json jax.json
    KERAS_BACKEND=tensorflow python benchmarks/flops_padded.py --json tensorflow.json
    KERAS_BACKEND=torch python benchmarks/flops_padded.py --json torch.json
    python benchmarks/flops_padded.py --table jax.json tensorflow.json torch.json \\
        > docs/generated/flops_padded.md
"""

import argparse
import functools
import json
import os
import sys
import warnings
from pathlib import Path

import keras
import masked_steps  # benchmarks/masked_steps.py: this file's folder is on the path
import numpy as np
from keras import layers, ops

import keras_tdplus

SENTENCES = 32
WORDS = 16
VOCABULARY = 1000
# Valid sentences per document: mean 11.25 of 32 (35%), one document full.
VALID = (9, 3, 12, 6, 20, 11, 4, 14, 8, 32, 12, 5, 16, 7, 11, 10)
MAX_BYTES = 1 << 20


def _lstm_encoder():
    return layers.LSTM(64)


def _conv_encoder():
    # The word mask reaches the convolution, which cannot use it and says so
    # once per model; its padding words are computed like the others.
    warnings.filterwarnings("ignore", "Layer 'conv1d.*does not support masking")
    return keras.Sequential(
        [
            layers.Conv1D(128, 3, padding="same", activation="relu"),
            layers.Conv1D(128, 3, padding="same", activation="relu"),
            layers.GlobalMaxPooling1D(),
        ]
    )


# `--encoders` name: (the name the tables show, the encoder).
ENCODERS = {
    "lstm": ("LSTM(64)", _lstm_encoder),
    "conv": ("2 Conv1D(128, 3) + max pool", _conv_encoder),
}


def document_model(encoder, skip_masked_steps):
    """Word ids `(batch, sentences, words)` to 4 outputs; the encoder runs per sentence."""
    ids = keras.Input((SENTENCES, WORDS), dtype="int32", name="words")
    embedded = layers.Embedding(VOCABULARY, 32, mask_zero=True, name="embed")(ids)
    inner = encoder()
    sentences = keras_tdplus.TimeDistributed(
        inner, skip_masked_steps=skip_masked_steps, name="sentences"
    )(embedded)
    given = {}
    if isinstance(inner, keras.Model):
        # Around a model, the wrapper's output mask is the word mask (batch,
        # sentences, words), which the LSTM below rejects: give the sentences'.
        given["mask"] = ops.any(ops.not_equal(ids, 0), axis=-1)
    document = layers.LSTM(64, name="document")(sentences, **given)
    return keras.Model(ids, layers.Dense(4, name="head")(document))


def padded_batch(valid, rng):
    """`(ids, targets)`: `valid[i]` sentences of 4 to 16 words in document i, zeros after."""
    batch = len(valid)
    ids = rng.integers(1, VOCABULARY, size=(batch, SENTENCES, WORDS)).astype("int32")
    lengths = rng.integers(4, WORDS + 1, size=(batch, SENTENCES))
    ids[np.arange(WORDS) >= lengths[..., None]] = 0
    ids[np.arange(SENTENCES)[None, :] >= np.asarray(valid)[:, None]] = 0
    return ids, rng.normal(size=(batch, 4)).astype("float32")


def flops(model, valid):
    """`{"train" | "predict": {"padded": FLOPs, "effective": FLOPs}}` of `model` on `valid`."""
    counts = {}
    for step, training in (("train", True), ("predict", False)):
        explanation = keras_tdplus.explain_flops(model, training=training, valid_steps=list(valid))
        counts[step] = {"padded": explanation.padded, "effective": explanation.total}
    return counts


def measure(name, valid, repeats):
    """FLOPs and median seconds of one encoder's document model, with and without skipping."""
    encoder = ENCODERS[name][1]
    keras.utils.set_random_seed(0)
    skip = document_model(encoder, skip_masked_steps=True)
    every = document_model(encoder, skip_masked_steps=False)
    every.set_weights(skip.get_weights())
    for model in (skip, every):
        model.compile(optimizer="adam", loss="mse")
    x, y = padded_batch(valid, np.random.default_rng(0))
    models = {"skip": skip, "all steps": every}
    train = masked_steps._median_seconds(
        {label: functools.partial(m.train_on_batch, x, y) for label, m in models.items()},
        repeats,
    )
    predict = masked_steps._median_seconds(
        {label: functools.partial(m.predict_on_batch, x) for label, m in models.items()},
        repeats,
    )
    return {"flops": flops(skip, valid), "seconds": {"train": train, "predict": predict}}


def speed_ups(result):
    """`{step: (predicted, measured)}`: padded over effective FLOPs, all-steps over skip time."""
    return {
        step: (
            result["flops"][step]["padded"] / result["flops"][step]["effective"],
            result["seconds"][step]["all steps"] / result["seconds"][step]["skip"],
        )
        for step in ("train", "predict")
    }


def _giga(n):
    return f"{n / 1e9:.3f} G"


def report(name, result):
    """The console table of one encoder on this backend."""
    lines = [
        f"### {name} ({keras.backend.backend()})",
        "",
        "| step | FLOPs padded | FLOPs effective | predicted | measured | ms (all steps, skip) |",
        "|---|---|---|---|---|---|",
    ]
    for step, (predicted, measured) in speed_ups(result).items():
        counts, seconds = result["flops"][step], result["seconds"][step]
        lines.append(
            f"| {step} | {_giga(counts['padded'])} | {_giga(counts['effective'])} "
            f"| {predicted:.2f}x | {measured:.2f}x "
            f"| {seconds['all steps'] * 1e3:.1f}, {seconds['skip'] * 1e3:.1f} |"
        )
    return "\n".join(lines)


def read_results(paths):
    """`{backend: the JSON one run wrote}`, each checked for what `table` reads."""
    results = {}
    for path in paths:
        path = Path(path)
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path}: over {MAX_BYTES} bytes, not a benchmark result")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
        try:
            _check(data)
        except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError):
            raise ValueError(
                f"{path}: expected the JSON that flops_padded.py --json writes"
            ) from None
        if data["backend"] in results:
            raise ValueError(f"{path}: a second run on {data['backend']}")
        results[data["backend"]] = data
    return results


def _check(data):
    """Raises unless `data` holds a backend, the valid steps and positive figures per model."""
    if not isinstance(data["backend"], str):
        raise ValueError
    if not all(1 <= int(v) <= int(data["sentences"]) for v in data["valid_steps"]):
        raise ValueError
    for result in data["models"].values():
        for predicted, measured in speed_ups(result).values():
            if not (predicted > 0 and measured > 0):
                raise ValueError


def table(results):
    """One Markdown table: predicted and measured speed-ups per encoder, step and backend."""
    backends = sorted(results)
    first = results[backends[0]]
    for backend in backends:
        if results[backend]["valid_steps"] != first["valid_steps"]:
            raise ValueError(
                f"the {backends[0]} and {backend} runs had different valid steps: "
                f"{first['valid_steps']} and {results[backend]['valid_steps']}"
            )
    header = "| sentence encoder | step | FLOPs padded | FLOPs effective | predicted | "
    lines = [
        header + " | ".join(f"measured, {b}" for b in backends) + " |",
        "|---|---|---|---|---|" + "---|" * len(backends),
    ]
    for name, result in first["models"].items():
        for step, (predicted, _) in speed_ups(result).items():
            counts = result["flops"][step]
            cells = []
            for backend in backends:
                other = results[backend]["models"].get(name)
                cells.append("" if other is None else f"{speed_ups(other)[step][1]:.2f}x")
            lines.append(
                f"| {name} | {step} | {_giga(counts['padded'])} | {_giga(counts['effective'])} "
                f"| {predicted:.2f}x | " + " | ".join(cells) + " |"
            )
    valid = [int(v) for v in first["valid_steps"]]
    runs = ", ".join(
        f"{b} (keras {results[b].get('keras')}, {results[b].get('cpus')} CPUs, "
        f"{results[b].get('repeats')} repeats)"
        for b in backends
    )
    lines += [
        "",
        f"{len(valid)} documents of up to {first['sentences']} sentences of {first['words']} "
        f"words, valid sentences {valid} ({sum(valid) / (len(valid) * first['sentences']):.0%} "
        "of the batch). Predicted: padded over effective FLOPs. Measured: the time of a step "
        "with `skip_masked_steps=False` over the time with `skip_masked_steps=True`, median "
        f"after warm-up; one backend after the other: {runs}.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoders", nargs="+", choices=list(ENCODERS), default=list(ENCODERS))
    parser.add_argument(
        "--valid",
        nargs="+",
        type=int,
        default=list(VALID),
        metavar="N",
        help=f"valid sentences per document, 1 to {SENTENCES} (default: {list(VALID)})",
    )
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per figure")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--table",
        nargs="+",
        metavar="JSON",
        help="print the Markdown table of these runs' JSON files instead of measuring",
    )
    args = parser.parse_args(argv)
    if args.table:
        try:
            print(table(read_results(args.table)))
        except (OSError, ValueError) as error:
            parser.error(str(error))
        return 0
    if args.repeats < 1:
        parser.error(f"--repeats: expected 1 or more, received {args.repeats}")
    if not all(1 <= v <= SENTENCES for v in args.valid):
        parser.error(f"--valid: expected counts from 1 to {SENTENCES}, received {args.valid}")
    everything = {}
    for name in args.encoders:
        label = ENCODERS[name][0]
        everything[label] = measure(name, args.valid, args.repeats)
        print(report(label, everything[label]), end="\n\n", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            about = {"backend": keras.backend.backend(), "keras": keras.__version__}
            about |= {"cpus": os.cpu_count(), "repeats": args.repeats}
            about |= {"sentences": SENTENCES, "words": WORDS, "valid_steps": args.valid}
            json.dump({**about, "models": everything}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
