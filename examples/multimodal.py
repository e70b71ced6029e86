"""
Multimodality demo: train QVPO and SAC on a one-step task with four equally good optima, then draw many
actions from each learned policy for the (only) state and plot them over the reward landscape.

    python examples/multimodal.py                                # writes multimodal.png
    python examples/multimodal.py --timesteps 4000 --seed 1 --out docs/multimodal.png

The task is sb3_qvpo/MultimodalBandit-v0: reward max_k exp(-||a - c_k||^2 / (2 * 0.15^2)) for actions in
[-1, 1]^2, optima c_k at (+-0.6, +-0.6). QVPO's samples are drawn from its diffusion policy (the reverse chain,
no selection by the critic); SAC's from its squashed Gaussian (predict with deterministic=False). An action
"reaches" an optimum when it lies within 0.3 (two bump widths) of it.
"""

import argparse

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch as th
from stable_baselines3 import SAC

import sb3_qvpo.envs  # noqa: F401  (registers sb3_qvpo/MultimodalBandit-v0)
from sb3_qvpo import QVPO
from sb3_qvpo.envs import mode_shares

ENV_ID = "sb3_qvpo/MultimodalBandit-v0"
RADIUS = 0.3

# Small QVPO settings (the paper's algorithm: the best of 16 candidates, weighted by its clipped advantage;
# 5 denoising steps, 2 x 64 networks), after 1000 uniformly random actions.
QVPO_SETTINGS = dict(
    learning_starts=1000,
    batch_size=64,
    n_diffusion_steps=5,
    n_train_candidates=16,
    n_eval_candidates=16,
    learning_rate=1e-3,
    actor_learning_rate=3e-4,
    policy_kwargs=dict(net_arch=[64, 64]),
)
# SAC with SB3's defaults except the same warm-up and batch as QVPO
SAC_SETTINGS = dict(learning_starts=1000, batch_size=64)


def train(algo: str, timesteps: int, seed: int, **overrides):
    env = gym.make(ENV_ID)
    settings = {**(QVPO_SETTINGS if algo == "qvpo" else SAC_SETTINGS), **overrides}
    model = (QVPO if algo == "qvpo" else SAC)("MlpPolicy", env, seed=seed, **settings)
    return model.learn(timesteps)


def sample_actions(model, n_samples: int) -> np.ndarray:
    """n_samples actions of the learned policy for the task's single state, shape (n_samples, 2)."""
    obs = np.zeros((n_samples, 1), dtype=np.float32)
    if isinstance(model, QVPO):  # the diffusion policy itself, without best-of-K selection by the critic
        with th.no_grad():
            return model.actor.sample(th.as_tensor(obs[:1]), n_samples)[0].cpu().numpy()
    return model.predict(obs, deterministic=False)[0]


def plot(samples: dict[str, np.ndarray], path: str) -> None:
    env = gym.make(ENV_ID).unwrapped
    grid = np.linspace(-1, 1, 201)
    reward = env.reward(np.stack(np.meshgrid(grid, grid), axis=-1))
    fig, axes = plt.subplots(1, len(samples), figsize=(4.2 * len(samples), 4.2))
    for ax, (name, actions) in zip(np.atleast_1d(axes), samples.items(), strict=True):
        ax.imshow(reward, extent=(-1, 1, -1, 1), origin="lower", cmap="Greys", vmin=0, vmax=1.5)
        ax.scatter(actions[:, 0], actions[:, 1], s=4, alpha=0.4, color="C0" if name.startswith("QVPO") else "C1")
        shares = mode_shares(actions, env.optima, RADIUS)
        for (x, y), share in zip(env.optima, shares, strict=True):
            ax.annotate(f"{share:.0%}", (x, y), xytext=(0, 22), textcoords="offset points", ha="center", color="C3")
        ax.set_title(f"{name}\n{len(actions)} sampled actions", fontsize="medium")
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_xlabel("action[0]")
        ax.set_aspect("equal")
    np.atleast_1d(axes)[0].set_ylabel("action[1]")
    fig.suptitle("Reward landscape (grey: four equal optima) and share of samples within 0.3 of each", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=3000, help="training steps of each algorithm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1000, help="actions drawn from each policy")
    parser.add_argument("--out", default="multimodal.png", help="PNG to write")
    args = parser.parse_args()

    optima = gym.make(ENV_ID).unwrapped.optima
    samples = {}
    for algo, name in (("qvpo", "QVPO (diffusion policy)"), ("sac", "SAC (Gaussian policy)")):
        actions = sample_actions(train(algo, args.timesteps, args.seed), args.samples)
        shares = mode_shares(actions, optima, RADIUS)
        print(f"{name}: share of samples near each optimum {np.round(shares, 3).tolist()}, near any {shares.sum():.0%}")
        samples[name] = actions
    plot(samples, args.out)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
