"""One of several JAX processes training the scaling-out model together; for docs/scaling.md.

Start one per process, each with its own `--process-id` and the same `--addresses`
(here two, on one machine):

    python docs/examples/scaling_out_jax.py --process-id 0 &
    python docs/examples/scaling_out_jax.py --process-id 1

`--mode data` (the default) runs `DataParallel`: each process holds all the weights
and is fed half of every batch. `--mode model` runs `ModelParallel`: the
`TimeDistributedDense` kernel is split across the processes. Each process then
trains the same model alone on the whole batch and prints whether the losses match.
tests/test_multiprocess.py starts these runs.
"""

# ruff: noqa: E402

import json
import os

os.environ["KERAS_BACKEND"] = "jax"  # before keras is imported

from scaling_out_model import GLOBAL_BATCH, X, Y, build, parse_args, shard

parser = parse_args("One JAX process of a multi-process run.")
parser.add_argument("--mode", choices=["data", "model"], default="data")
args = parser.parse_args()
num_processes = len(args.addresses.split(","))

# --8<-- [start:initialize]
import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPUs talk over gloo

import keras

keras.utils.set_random_seed(0)  # the same seed in every process, before initialize
keras.distribution.initialize(
    job_addresses=args.addresses,  # JAX only needs the first: process 0 coordinates
    num_processes=num_processes,
    process_id=args.process_id,
)
print(f"process {jax.process_index()} of {jax.process_count()}: devices {jax.devices()}")
# --8<-- [end:initialize]

# --8<-- [start:data_parallel]
if args.mode == "data":
    # Each process reads its own share of every batch: Keras must not split it again.
    distribution = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    x, y = (shard(a, args.process_id, num_processes) for a in (X, Y))
# --8<-- [end:data_parallel]
# --8<-- [start:model_parallel]
else:
    # One mesh row, one column per process: the batch axis is not split, so every
    # process is fed the whole batch; the head's kernel, (features, units), is split
    # along its features.
    mesh = keras.distribution.DeviceMesh((1, len(jax.devices())), ["batch", "model"])
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map["head/kernel"] = ("model", None)
    distribution = keras.distribution.ModelParallel(
        layout_map=layout_map, batch_dim_name="batch", auto_shard_dataset=False
    )
    x, y = X, Y
# --8<-- [end:model_parallel]

# --8<-- [start:train]
with distribution.scope():
    model = build()
    history = model.fit(x, y, batch_size=len(x), epochs=args.epochs, shuffle=False, verbose=0)
kernel = model.get_layer("head").kernel.value
shards = sorted({tuple(s.data.shape) for s in kernel.addressable_shards})
print(f"head kernel {tuple(kernel.shape)}, split {kernel.sharding.spec}, here {shards}")

# The same model, alone in this process, on the whole batch.
alone = build().fit(X, Y, batch_size=GLOBAL_BATCH, epochs=args.epochs, shuffle=False, verbose=0)
losses, reference = history.history["loss"], alone.history["loss"]
print(f"{num_processes} processes: {[round(v, 6) for v in losses]}")
print(f"1 process:   {[round(v, 6) for v in reference]}")
# --8<-- [end:train]

if args.json:
    result = {
        "process_id": jax.process_index(),
        "devices": len(jax.devices()),
        "losses": losses,
        "reference": reference,
        "kernel_shape": list(kernel.shape),
        "spec": [str(axis) for axis in kernel.sharding.spec],
        "shard_shapes": [list(s) for s in shards],
    }
    print("RESULT " + json.dumps(result))
