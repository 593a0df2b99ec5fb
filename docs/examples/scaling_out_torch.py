"""One of several PyTorch processes training the scaling-out model in DDP; for docs/scaling.md.

Start one per process, each with its own `--process-id` and the same `--addresses`
(here two, on one machine):

    python docs/examples/scaling_out_torch.py --process-id 0 &
    python docs/examples/scaling_out_torch.py --process-id 1

On the torch backend a Keras model is a `torch.nn.Module`, so
`torch.nn.parallel.DistributedDataParallel` wraps it as it is. Each process is fed
half of every batch; DDP averages the gradients. Each process then trains the same
model alone with `fit` on the whole batch and prints whether the losses match.
tests/test_multiprocess.py starts these runs.
"""

# ruff: noqa: E402

import json
import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported

from scaling_out_model import GLOBAL_BATCH, X, Y, build, parse_args, shard

args = parse_args("One PyTorch process of a multi-process run.").parse_args()
addresses = args.addresses.split(",")

# --8<-- [start:initialize]
import torch
import torch.distributed as dist

dist.init_process_group(
    "gloo",  # CPUs; "nccl" between GPUs
    init_method=f"tcp://{addresses[0]}",  # process 0 listens there; the others connect
    world_size=len(addresses),
    rank=args.process_id,
)
# --8<-- [end:initialize]

# --8<-- [start:train]
model = build()  # the same seed in every process; DDP also copies process 0's weights
ddp = torch.nn.parallel.DistributedDataParallel(model)
optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)  # as build()'s keras SGD(0.1)

x, y = (torch.from_numpy(shard(a, args.process_id, len(addresses))) for a in (X, Y))
mask = (x != 0).any(dim=-1)  # the steps Masking keeps: True where a step is not padding

# The loss is the mean over the real steps of the whole batch. Each half holds
# another number of them, so divide by the global count, which all_reduce gives.
steps = mask.sum().float()
dist.all_reduce(steps)
losses = []
for _ in range(args.epochs):
    optimizer.zero_grad()
    squared = ((ddp(x) - y) ** 2).mean(dim=-1)
    local_sum = (squared * mask).sum()
    # DDP averages the gradients over the processes: scale each up by their number.
    (local_sum * dist.get_world_size() / steps).backward()
    optimizer.step()
    total = local_sum.detach().clone()
    dist.all_reduce(total)
    losses.append(float(total / steps))

alone = build().fit(X, Y, batch_size=GLOBAL_BATCH, epochs=args.epochs, shuffle=False, verbose=0)
reference = alone.history["loss"]
print(f"{len(addresses)} processes: {[round(v, 6) for v in losses]}")
print(f"1 process:   {[round(v, 6) for v in reference]}")
# --8<-- [end:train]

if args.json:
    result = {"process_id": dist.get_rank(), "losses": losses, "reference": reference}
    print("RESULT " + json.dumps(result))
# Free the DDP wrapper before its process group: on gloo, a DDP Reducer that outlives
# its group can block the process's exit.
del ddp
dist.destroy_process_group()
