"""One of several TensorFlow workers training the scaling-out model together; for docs/scaling.md.

Start one per worker, each with its own `--process-id` and the same `--addresses`
(here two, on one machine):

    python docs/examples/scaling_out_tf.py --process-id 0 &
    python docs/examples/scaling_out_tf.py --process-id 1

`MultiWorkerMirroredStrategy` keeps a copy of the weights in every worker. Keras 3's
`fit` fails under it (keras-team/keras#20585), so `--mode step` (the default) trains
with a step of its own, run by `strategy.run` and reduced by `strategy.reduce`. Each
worker is fed half of every batch. `--mode fit` calls `fit` instead, to see whether
Keras has fixed it. Each worker then trains the same model alone with `fit` on the
whole batch and prints whether the losses match. tests/test_multiprocess.py starts
these runs.
"""

# ruff: noqa: E402

import json
import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # before keras is imported

from scaling_out_model import GLOBAL_BATCH, X, Y, build, parse_args, shard

parser = parse_args("One TensorFlow worker of a multi-worker run.")
parser.add_argument("--mode", choices=["step", "fit"], default="step")
args = parser.parse_args()

# --8<-- [start:initialize]
addresses = args.addresses.split(",")
# Every worker gets the whole cluster and its own index, before TensorFlow starts.
os.environ["TF_CONFIG"] = json.dumps(
    {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": args.process_id}}
)

import tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()
# --8<-- [end:initialize]

# --8<-- [start:step]
x, y = (shard(a, args.process_id, len(addresses)) for a in (X, Y))
mask = tf.reduce_any(x != 0, axis=-1)  # the steps Masking keeps

with strategy.scope():
    model = build()  # weights and optimizer mirrored on every worker
    model.optimizer.build(model.trainable_variables)


@tf.function
def train_step(x, y, mask, steps):
    def replica_step(x, y, mask):
        with tf.GradientTape() as tape:
            squared = tf.reduce_mean((model(x, training=True) - y) ** 2, axis=-1)
            local_sum = tf.reduce_sum(tf.where(mask, squared, 0.0))
            # The optimizer sums the gradients of the workers: divide by the
            # number of real steps in the whole batch, not in this worker's half.
            loss = local_sum / steps
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return local_sum

    local_sums = strategy.run(replica_step, args=(x, y, mask))
    return strategy.reduce("SUM", local_sums, axis=None) / steps


@tf.function
def count_steps(mask):
    counts = strategy.run(lambda m: tf.reduce_sum(tf.cast(m, "float32")), args=(mask,))
    return strategy.reduce("SUM", counts, axis=None)


if args.mode == "step":
    steps = count_steps(mask)
    losses = [float(train_step(x, y, mask, steps)) for _ in range(args.epochs)]
# --8<-- [end:step]
# --8<-- [start:fit]
else:
    with strategy.scope():
        history = model.fit(x, y, batch_size=len(x), epochs=args.epochs, shuffle=False)
    losses = history.history["loss"]
# --8<-- [end:fit]

# --8<-- [start:reference]
alone = build().fit(X, Y, batch_size=GLOBAL_BATCH, epochs=args.epochs, shuffle=False, verbose=0)
reference = alone.history["loss"]
print(f"{len(addresses)} workers: {[round(v, 6) for v in losses]}")
print(f"1 process:  {[round(v, 6) for v in reference]}")
# --8<-- [end:reference]

if args.json:
    print(
        "RESULT "
        + json.dumps({"process_id": args.process_id, "losses": losses, "reference": reference})
    )
