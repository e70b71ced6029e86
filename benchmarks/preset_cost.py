"""
The cost of each variant of a preset sweep beside SB3's SAC and TD3 (rl-zoo3's settings), measured in one
process on one torch thread, so that the ratios hold on the machine that measured them, whatever its speed.

    PYTHONPATH=. python benchmarks/preset_cost.py --sweep mujoco100k --env HalfCheetah-v5
    PYTHONPATH=. python benchmarks/preset_cost.py --sweep mujoco100k --variants base qf3x256 --rounds 3

Every model is built as benchmarks/compare.py builds it, then fills its buffer with --warmup random steps
(the number of random steps does not change the cost of an update) and trains one chunk as warm-up. The
rounds then time one chunk of --steps training steps (behaviour action, environment step, one update) of
every model in turn, so that a change in the machine's load falls on all of them alike. It prints the median
ms per training step of each and its ratio to SAC's.
"""

import argparse
import statistics
import time

import gymnasium as gym
import torch as th
from compare import make_model, zoo_hyperparams  # benchmarks/compare.py
from cpu_info import cpu_line
from preset_sweep import SWEEPS


def build(name: str, env_id: str, sweep: str, warmup: int):
    """A model as benchmarks/compare.py builds it for the screen (QVPO) or the comparison (rl-zoo3's settings)."""
    kwargs = zoo_hyperparams(name, env_id) if name in ("sac", "td3") else SWEEPS[sweep][0][name]
    algo = name if name in ("sac", "td3") else "qvpo"
    spec = dict(algo=algo, algo_kwargs={**kwargs, "learning_starts": warmup}, qvpo_settings="paper", env=env_id)
    return make_model({**spec, "seed": 0, "device": "cpu"}, gym.make(env_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", choices=list(SWEEPS), default="mujoco100k")
    parser.add_argument("--variants", nargs="+", help="a subset of the sweep's variants (default: all)")
    parser.add_argument("--baselines", nargs="*", default=["sac", "td3"], choices=["sac", "td3"])
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=100, help="training steps per chunk")
    parser.add_argument("--rounds", type=int, default=5, help="timed chunks of every model")
    parser.add_argument("--warmup", type=int, default=1000, help="random steps before the first update")
    args = parser.parse_args()
    variants = args.variants or list(SWEEPS[args.sweep][0])
    unknown = [name for name in variants if name not in SWEEPS[args.sweep][0]]
    if unknown:
        parser.error(f"unknown variant(s) {unknown} of the {args.sweep} sweep")
    if "sac" not in args.baselines:
        parser.error("--baselines must include sac: the ratios are to SAC's cost")
    for name in ("steps", "rounds", "warmup"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")

    th.set_num_threads(1)
    names = [*args.baselines, *variants]
    models = {}
    for name in names:
        models[name] = build(name, args.env, args.sweep, args.warmup)
        models[name].learn(args.warmup + args.steps)  # random steps, then one chunk of warm-up
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            start = time.perf_counter()
            models[name].learn(args.steps, reset_num_timesteps=False)
            times[name].append(1e3 * (time.perf_counter() - start) / args.steps)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{cpu_line()}, torch {th.__version__}, 1 thread, {args.env}, median of {args.rounds} x {args.steps} steps")
    print("| variant | ms per step | min-max | x SAC |")
    print("|---|---|---|---|")
    for name in names:
        low, high = min(times[name]), max(times[name])
        print(f"| {name} | {medians[name]:.1f} | {low:.1f}-{high:.1f} | {medians[name] / medians['sac']:.2f} |")


if __name__ == "__main__":
    main()
