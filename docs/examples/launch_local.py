"""Starts a worker script once per process on this machine, as a one-host cluster would.

    python docs/examples/launch_local.py docs/examples/scaling_out_jax.py --mode model
    python docs/examples/launch_local.py --processes 2 --timeout 120 SCRIPT [WORKER ARGS...]

Each process gets `--process-id N` and the same `--addresses`: one free port on
127.0.0.1 per process. The launcher waits at most `--timeout` seconds, kills every
process it started (and their children) on the way out, however it ends, and prints
what each process printed. With `--output FILE` it also writes process 0's output
under the commands a user types, as a Markdown block for docs/scaling.md.

Exit status: 0 when every process succeeded, 1 when one failed (the others are then
stopped: they would wait for it), 2 when they ran past the timeout.
tests/test_multiprocess.py starts its runs with `run`.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class Timeout(Exception):
    """The processes ran past the timeout; `outputs` holds what each printed, by process id."""

    def __init__(self, seconds, outputs):
        super().__init__(f"the processes ran past {seconds} s")
        self.outputs = outputs


def free_addresses(count):
    """`count` HOST:PORT addresses on 127.0.0.1, free when asked, comma-separated."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return ",".join(f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def run(script, worker_args=(), processes=2, timeout=120, env=None):
    """Runs `script` once per process; returns `[(exit status, stdout, stderr)]` by process id.

    Raises `Timeout` when they run past `timeout` seconds. Every process runs in a
    process group of its own, killed before this returns or raises.
    """
    addresses = free_addresses(processes)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with tempfile.TemporaryDirectory() as logs:
        running, files = [], []
        try:
            for process_id in range(processes):
                out = Path(logs, f"{process_id}.out")
                err = Path(logs, f"{process_id}.err")
                files.append((out, err))
                with open(out, "w") as stdout, open(err, "w") as stderr:
                    command = [sys.executable, str(script), "--process-id", str(process_id)]
                    running.append(
                        subprocess.Popen(
                            [*command, "--addresses", addresses, *worker_args],
                            stdout=stdout,
                            stderr=stderr,
                            env=env,
                            start_new_session=True,
                        )
                    )
            timed_out = _wait(running, timeout)
        finally:
            for process in running:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        outputs = [
            (process.returncode, out.read_text(), err.read_text())
            for process, (out, err) in zip(running, files, strict=True)
        ]
    if timed_out:
        raise Timeout(timeout, outputs)
    return outputs


def _wait(running, timeout):
    """Waits until all exit, one fails (the others would wait for it) or time runs out.

    Returns whether time ran out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [process.poll() for process in running]
        if all(code is not None for code in codes) or any(codes):
            return False
        time.sleep(0.2)
    return True


def markdown(script, worker_args, processes, stdout):
    """The commands a user types, then what process 0 printed, as a console block."""
    worker = " ".join(["python", str(script), *worker_args])
    lines = [f"$ {worker} --process-id {i} &" for i in range(processes - 1)]
    lines.append(f"$ {worker} --process-id {processes - 1}")
    lines.extend(line.rstrip() for line in stdout.rstrip("\n").splitlines())
    return "```console\n" + "\n".join(lines) + "\n```\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120, help="seconds (default 120)")
    parser.add_argument("--output", type=Path, help="write process 0's output here (Markdown)")
    parser.add_argument("script", type=Path)
    parser.add_argument("worker_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error(f"--processes must be at least 1. Received: {args.processes}")
    try:
        outputs = run(args.script, args.worker_args, args.processes, args.timeout)
    except Timeout as timeout:
        outputs, status = timeout.outputs, 2
        print(f"{args.script}: {timeout}; killed them", file=sys.stderr)
    else:
        status = 0 if all(code == 0 for code, _, _ in outputs) else 1
    for process_id, (code, stdout, stderr) in enumerate(outputs):
        print(f"--- process {process_id} (exit status {code})")
        print(stdout, end="")
        if code:
            print(stderr[-3000:], end="", file=sys.stderr)
    if args.output and status == 0:
        relative = os.path.relpath(args.script)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(markdown(relative, args.worker_args, args.processes, outputs[0][1]))
    return status


if __name__ == "__main__":
    sys.exit(main())
