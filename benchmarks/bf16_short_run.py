"""
Effect of ``sampling_dtype="bfloat16"`` on returns: the same short QVPO run (same seed) in float32
and in bfloat16, evaluated with ``predict(deterministic=True)``.

    PYTHONPATH=. python benchmarks/bf16_short_run.py --env Pendulum-v1 --timesteps 6000
"""

import argparse
import time

import torch as th
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_qvpo import QVPO


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--timesteps", type=int, default=6000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    print("| sampling_dtype | seed | mean return (10 episodes) | wall time (s) |\n|---|---|---|---|")
    for seed in args.seeds:
        for dtype in ("float32", "bfloat16"):
            model = QVPO(
                "MlpPolicy",
                args.env,
                learning_starts=1000,
                batch_size=64,
                policy_kwargs=dict(net_arch=[64, 64], sampling_dtype=dtype),
                seed=seed,
            )
            start = time.perf_counter()
            model.learn(args.timesteps)
            elapsed = time.perf_counter() - start
            mean_return, std_return = evaluate_policy(model, model.get_env(), n_eval_episodes=10, deterministic=True)
            print(f"| {dtype} | {seed} | {mean_return:.0f} +/- {std_return:.0f} | {elapsed:.0f} |", flush=True)


if __name__ == "__main__":
    main()
