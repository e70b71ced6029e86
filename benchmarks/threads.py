"""
One torch thread or two? Time a QVPO training step (behaviour action, environment step, one update) at
the CPU preset (Pendulum-v1) and at the paper's settings (Hopper-v5), with 1 and 2 torch threads, on an
idle machine and while a second process trains QVPO beside it (one thread, the CPU preset).

    PYTHONPATH=. python benchmarks/threads.py
    PYTHONPATH=. python benchmarks/threads.py --settings cpu --threads 1 2 --load idle busy

Each measurement runs in a fresh process; it prints the median over --chunks chunks of ms per step.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from cpu_info import cpu_line  # benchmarks/cpu_info.py

SETTINGS_ENV = {"cpu": "Pendulum-v1", "paper": "Hopper-v5"}
STEPS_PER_CHUNK = {"cpu": 200, "paper": 5}


def make_model(settings: str):
    from sb3_qvpo import QVPO
    from sb3_qvpo.presets import cpu_preset

    kwargs = cpu_preset() if settings == "cpu" else {}
    # the warm-up only fills the buffer: its length does not change the cost of an update
    kwargs["learning_starts"] = 1000
    return QVPO("DiffusionPolicy", SETTINGS_ENV[settings], seed=0, **kwargs)


def measure(settings: str, threads: int, chunks: int) -> None:
    """Child process: print the median ms per training step."""
    import torch as th

    th.set_num_threads(threads)
    model = make_model(settings)
    steps = STEPS_PER_CHUNK[settings]
    model.learn(1000 + steps)  # random steps, then one chunk of warm-up
    times = []
    for _ in range(chunks):
        start = time.perf_counter()
        model.learn(steps, reset_num_timesteps=False)
        times.append((time.perf_counter() - start) / steps)
    print(f"{1e3 * statistics.median(times):.2f}")


def background_load() -> None:
    """Child process: train QVPO (CPU preset, one thread) until killed."""
    import torch as th

    th.set_num_threads(1)
    make_model("cpu").learn(10**9)


def child(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torch.set_num_threads sets the measured count
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], stdout=subprocess.PIPE, text=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS_ENV), default=["cpu", "paper"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--load", nargs="+", choices=["idle", "busy"], default=["idle", "busy"])
    parser.add_argument("--chunks", type=int, default=5, help="timed chunks per measurement (median)")
    parser.add_argument("--child", nargs=3, metavar=("SETTINGS", "THREADS", "CHUNKS"), help=argparse.SUPPRESS)
    parser.add_argument("--background-load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    if args.background_load:
        background_load()
        return
    if any(threads <= 0 for threads in args.threads) or args.chunks <= 0:
        parser.error("--threads and --chunks must be positive")

    print(f"CPU: {cpu_line()}, {os.cpu_count()} logical cores; ms per training step (median of {args.chunks} chunks)")
    print("| settings | env | load | " + " | ".join(f"{n} thread{'s' * (n > 1)}" for n in args.threads) + " |")
    print("|---|---|---|" + "---|" * len(args.threads))
    for load in args.load:
        loader = child("--background-load") if load == "busy" else None
        try:
            if loader is not None:
                time.sleep(15)  # let the second process get past its random steps
            for settings in args.settings:
                cells = []
                for threads in args.threads:
                    process = child("--child", settings, str(threads), str(args.chunks))
                    out, _ = process.communicate()
                    if process.returncode != 0:
                        raise SystemExit(f"error: the {settings} measurement with {threads} threads failed")
                    cells.append(out.strip().splitlines()[-1])
                print(f"| {settings} | {SETTINGS_ENV[settings]} | {load} | " + " | ".join(cells) + " |", flush=True)
        finally:
            if loader is not None:
                loader.kill()
                loader.wait()


if __name__ == "__main__":
    main()
