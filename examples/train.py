"""
Train QVPO on a Gymnasium task with a progress bar, save the model in the working directory, and evaluate it.

    python examples/train.py                                  # Pendulum-v1, the CPU preset, about 5 minutes
    python examples/train.py --env Hopper-v5 --paper-defaults --timesteps 1000000 --device cuda

The last line printed is the deterministic evaluation of the saved model:
``Deterministic evaluation over N episodes: MEAN +/- STD``.
"""

import argparse

import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_qvpo import QVPO
from sb3_qvpo.presets import cpu_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1", help="Gymnasium environment id")
    parser.add_argument("--timesteps", type=int, default=10_000, help="environment steps to train for")
    parser.add_argument("--paper-defaults", action="store_true", help="the paper's settings instead of the CPU preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: see docs/presets.md)")
    parser.add_argument("--device", default="auto", help="torch device (auto: a GPU if there is one)")
    parser.add_argument("--save-path", default=None, help="where to save the model (default: qvpo_<env> here)")
    parser.add_argument("--tensorboard-log", default=None, help="TensorBoard log folder")
    parser.add_argument("--eval-episodes", type=int, default=10)
    args = parser.parse_args()
    if args.timesteps <= 0 or args.threads <= 0 or args.eval_episodes <= 0:
        parser.error("--timesteps, --threads and --eval-episodes must be positive")

    th.set_num_threads(args.threads)
    settings = {} if args.paper_defaults else cpu_preset()
    model = QVPO(
        "DiffusionPolicy",
        args.env,
        seed=args.seed,
        device=args.device,
        verbose=1,
        tensorboard_log=args.tensorboard_log,
        **settings,
    )
    model.learn(args.timesteps, progress_bar=True)
    save_path = args.save_path or f"qvpo_{args.env}"
    model.save(save_path)
    print(f"Saved the model to {save_path}.zip")

    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000)
    model = QVPO.load(save_path, device=args.device)
    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes)
    print(f"Deterministic evaluation over {args.eval_episodes} episodes: {mean_return:.1f} +/- {std_return:.1f}")


if __name__ == "__main__":
    main()
