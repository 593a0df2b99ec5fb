"""The benchmark on the accelerators present, then a data-parallel run over all of them.

On the current backend (set KERAS_BACKEND), on a machine with GPUs (or TPUs on JAX):

1. benchmarks/time_distributed.py as it is, on the backend's default accelerator;
2. a data-parallel training run of `keras_tdplus.TimeDistributed(Dense)` followed by
   `TimeDistributedDense`, on one accelerator and then on all of them, with the same
   batch per accelerator: JAX through `keras.distribution.DataParallel`, TensorFlow
   through `tf.distribute.MirroredStrategy`, PyTorch through `DistributedDataParallel`
   (one process per GPU, NCCL). It prints sequences per second and the scaling
   efficiency: the throughput on N accelerators over N times that on one.

Without an accelerator it prints why and exits with status 0. `--cpu` runs the
data-parallel part on the CPU instead, to try the script on any machine: JAX's CPU
devices (set `XLA_FLAGS=--xla_force_host_platform_device_count=N` for N of them),
TensorFlow's logical CPUs, or two PyTorch processes over gloo.

    KERAS_BACKEND=jax python benchmarks/accelerators.py
    KERAS_BACKEND=torch python benchmarks/accelerators.py --timesteps 100 --skip-benchmark
"""

import argparse
import datetime
import queue
import statistics
import sys
import time

import keras
import numpy as np
import time_distributed  # benchmarks/time_distributed.py: this file's folder is on the path

import keras_tdplus

FEATURES, UNITS = time_distributed.FEATURES, time_distributed.UNITS
_TORCH_TIMEOUT = datetime.timedelta(seconds=120)  # DDP rendezvous and each collective
_TORCH_WORKERS_DEADLINE_S = 240  # a DDP run, from the spawn to the last exit


def accelerators(cpu=False):
    """The devices the data-parallel run uses: every GPU or TPU of the backend, or the CPUs."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        if cpu:
            return jax.devices("cpu")
        return [d for d in jax.devices() if d.platform != "cpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("CPU" if cpu else "GPU")]
    if backend == "torch":
        import torch

        if cpu:
            return ["cpu", "cpu"]  # two gloo processes, to run DDP across processes
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return []


def build(steps):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((steps, FEATURES)),
            keras_tdplus.TimeDistributed(keras.layers.Dense(UNITS, activation="relu")),
            keras_tdplus.TimeDistributedDense(UNITS),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def data(batch, steps):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, steps, FEATURES)).astype("float32")
    y = rng.normal(size=(batch, steps, UNITS)).astype("float32")
    return x, y


def median_step(model, x, y, repeats):
    """The median time of a `train_on_batch` (it returns the loss: the step has finished)."""
    model.train_on_batch(x, y)  # compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_time_jax(devices, batch, steps, repeats):
    x, y = data(batch * len(devices), steps)
    distribution = keras.distribution.DataParallel(devices=devices)
    with distribution.scope():
        return median_step(build(steps), x, y, repeats)


def step_time_tensorflow(devices, batch, steps, repeats):
    import tensorflow as tf

    x, y = data(batch * len(devices), steps)
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        model = build(steps)
    return median_step(model, x, y, repeats)


def _torch_step_times(rank, devices, batch, steps, repeats):
    """Trains a DDP model on this rank's `batch` sequences; the timed steady steps."""
    import torch
    import torch.distributed as dist

    device = devices[rank]
    x, y = (
        torch.from_numpy(a[rank * batch : (rank + 1) * batch]).to(device)
        for a in data(batch * len(devices), steps)
    )
    ddp = torch.nn.parallel.DistributedDataParallel(build(steps))
    optimizer = torch.optim.Adam(ddp.parameters())

    def step():
        optimizer.zero_grad()
        loss = ((ddp(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss.item()  # waits for the step to finish

    step()
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _torch_worker(rank, devices, port, batch, steps, repeats, results):
    """One DDP process: trains on its own `batch` sequences; rank 0 reports the step time."""
    import torch
    import torch.distributed as dist

    device = devices[rank]
    if device.startswith("cuda"):
        torch.cuda.set_device(device)  # Keras' "cuda" is then this GPU
    # The store's server lives in the parent (step_time_torch), which holds its port.
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=_TORCH_TIMEOUT)
    dist.init_process_group(
        "nccl" if device.startswith("cuda") else "gloo",
        store=store,
        world_size=len(devices),
        rank=rank,
        timeout=_TORCH_TIMEOUT,  # a lost peer fails the run, not hangs it
    )
    # The DDP model lives only in _torch_step_times: a Reducer that outlives its process
    # group can block this process's exit (every other run hung so on gloo, torch 2.13).
    times = _torch_step_times(rank, devices, batch, steps, repeats)
    if rank == 0:
        results.put(statistics.median(times))
    dist.destroy_process_group()


def step_time_torch(devices, batch, steps, repeats):
    import torch.distributed as dist

    # The rendezvous server takes a free port and keeps it: no port is freed and then raced.
    server = dist.TCPStore(
        "127.0.0.1", 0, is_master=True, wait_for_workers=False, timeout=_TORCH_TIMEOUT
    )
    args = (devices, server.port, batch, steps, repeats)
    if len(devices) == 1:  # no process to start: this one is rank 0 of 1
        results = queue.SimpleQueue()
        _torch_worker(0, *args, results)
        return results.get()
    import torch.multiprocessing as mp

    results = mp.get_context("spawn").SimpleQueue()
    workers = mp.spawn(_torch_worker, args=(*args, results), nprocs=len(devices), join=False)
    deadline = time.monotonic() + _TORCH_WORKERS_DEADLINE_S
    while not workers.join(timeout=1):  # raises if a worker failed
        if time.monotonic() > deadline:
            for process in workers.processes:
                process.kill()
            raise TimeoutError(f"the DDP workers did not finish in {_TORCH_WORKERS_DEADLINE_S} s")
    return results.get()


def data_parallel(devices, timesteps, batch, repeats):
    step_time = globals()[f"step_time_{keras.config.backend()}"]
    print(f"\nData parallel over {len(devices)} devices, {batch} sequences per device per step:\n")
    print("| T | devices | global batch | train step | sequences/s | scaling efficiency |")
    print("|---|---|---|---|---|---|")
    for steps in timesteps:
        one = step_time(devices[:1], batch, steps, repeats)
        rows = [(1, one)]
        if len(devices) > 1:
            rows.append((len(devices), step_time(devices, batch, steps, repeats)))
        for count, seconds in rows:
            throughput = batch * count / seconds
            efficiency = throughput / (count * batch / one)
            print(
                f"| {steps} | {count} | {batch * count} | "
                f"{time_distributed._format_seconds(seconds)} | {throughput:.0f} | "
                f"{efficiency:.2f} |",
                flush=True,
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=20, help="steady steps timed")
    parser.add_argument("--batch", type=int, default=32, help="sequences per device per step")
    parser.add_argument("--skip-benchmark", action="store_true", help="only the data-parallel run")
    parser.add_argument(
        "--cpu", action="store_true", help="run the data-parallel part on the CPU devices"
    )
    args = parser.parse_args(argv)
    backend = keras.config.backend()
    devices = accelerators(cpu=args.cpu)
    if not devices:
        print(
            f"No GPU or TPU visible to the {backend} backend: nothing to measure here. "
            "Run this on a machine with accelerators, or pass --cpu to try it."
        )
        return 0
    print(f"keras {keras.__version__}, backend {backend}, devices: {[str(d) for d in devices]}")
    if not args.skip_benchmark and not args.cpu:
        time_distributed.main(
            ["--timesteps", *map(str, args.timesteps), "--repeats", str(args.repeats)]
        )
    data_parallel(devices, args.timesteps, args.batch, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
