"""
Train QVPO on a Gymnasium task with a progress bar, save the model, and evaluate it.

    python examples/train.py                                  # Pendulum-v1, CPU-sized settings
    python examples/train.py --env Hopper-v5 --paper-defaults --timesteps 1000000
"""

import argparse

import gymnasium as gym
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_qvpo import QVPO

# Settings that learn Pendulum-v1 in minutes on a 2-core CPU: fewer diffusion steps, candidates and units.
CPU_SETTINGS = dict(
    learning_starts=1000,
    n_diffusion_steps=5,
    n_train_candidates=16,
    n_eval_candidates=16,
    batch_size=128,
    policy_kwargs=dict(net_arch=[64, 64]),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1", help="Gymnasium environment id")
    parser.add_argument("--timesteps", type=int, default=20_000, help="environment steps to train for")
    parser.add_argument("--paper-defaults", action="store_true", help="use the paper's settings (slow on a CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-path", default=None, help="where to save the model (default: qvpo_<env>)")
    parser.add_argument("--tensorboard-log", default=None, help="TensorBoard log folder")
    parser.add_argument("--eval-episodes", type=int, default=10)
    args = parser.parse_args()

    settings = {} if args.paper_defaults else CPU_SETTINGS
    model = QVPO("DiffusionPolicy", args.env, seed=args.seed, verbose=1, tensorboard_log=args.tensorboard_log, **settings)
    model.learn(args.timesteps, progress_bar=True)
    save_path = args.save_path or f"qvpo_{args.env}"
    model.save(save_path)
    print(f"Saved the model to {save_path}.zip")

    eval_env = gym.make(args.env)
    mean_return, std_return = evaluate_policy(QVPO.load(save_path), eval_env, n_eval_episodes=args.eval_episodes)
    print(f"Deterministic evaluation over {args.eval_episodes} episodes: {mean_return:.1f} +/- {std_return:.1f}")


if __name__ == "__main__":
    main()
