"""
Multimodality demo: train QVPO and SAC on a one-step task with four equally good optima, then draw many
actions from each learned policy for the (only) state and plot them over the reward landscape.

    python benchmarks/multimodal.py --out multimodal.png                   # QVPO (two settings) and SAC, picture
    python benchmarks/multimodal.py --variants --seeds 0 1 2 3 4            # which QVPO choices keep the optima
    python benchmarks/multimodal.py --variants multimodal decaying-entropy --timesteps 20000 --seeds 0 1

The task is sb3_qvpo/MultimodalBandit-v0: reward max_k exp(-||a - c_k||^2 / (2 * 0.15^2)) for actions in
[-1, 1]^2, optima c_k at (+-0.6, +-0.6). QVPO's samples are drawn from its diffusion policy (the reverse chain,
no selection by the critic); SAC's from its squashed Gaussian (predict with deterministic=False). An action
"reaches" an optimum when it lies within 0.3 (two bump widths) of it; an optimum is "kept" when at least 15% of
the samples reach it (a uniform policy puts 7% near each).

--variants trains QVPO with the multimodal settings and with the paper's MuJoCo choices put back one at a time,
for every seed, in parallel processes (one torch thread each), and prints a markdown table of the shares.
"""

import argparse
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

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
MIN_SHARE = 0.15

# QVPO settings under which its diffusion policy keeps the four optima: every candidate kept and weighted by
# its Q-value (the "relu" transform), a 10-step linear variance schedule, a constant entropy coefficient of 0.1;
# small networks, fast critic.
MULTIMODAL_SETTINGS = dict(
    learning_starts=1000,
    batch_size=128,
    learning_rate=3e-3,
    actor_learning_rate=1e-3,
    n_diffusion_steps=10,
    beta_schedule="linear",
    n_train_candidates=16,
    n_kept_candidates=16,
    n_eval_candidates=16,
    weight_transform="relu",
    ent_coef=0.1,
    ent_coef_min=0.1,
    policy_kwargs=dict(net_arch=[64, 64]),
)
# Besides the settings themselves, each variant puts back one or two of the paper's MuJoCo choices (QVPO's
# defaults), all else as above:
# name -> (description, constructor arguments).
VARIANTS: dict[str, tuple[str, dict]] = {
    "multimodal": ("multimodal settings", {}),
    "advantage": ("clipped-advantage weights", dict(weight_transform="advantage")),
    "best-only": ("best candidate only", dict(n_kept_candidates=1)),
    "paper-selection": (
        "clipped advantage, best candidate only",
        dict(weight_transform="advantage", n_kept_candidates=1),
    ),
    "cosine": ("cosine schedule", dict(beta_schedule="cosine")),
    "decaying-entropy": ("entropy coefficient 0.02 decaying to 0.002", dict(ent_coef=0.02, ent_coef_min=0.002)),
}
# SAC with SB3's defaults except the same warm-up and batch as QVPO
SAC_SETTINGS = dict(learning_starts=1000, batch_size=128)


def train(algo: str, timesteps: int, seed: int, **overrides):
    env = gym.make(ENV_ID)
    settings = {**(MULTIMODAL_SETTINGS if algo == "qvpo" else SAC_SETTINGS), **overrides}
    model = (QVPO if algo == "qvpo" else SAC)("MlpPolicy", env, seed=seed, **settings)
    return model.learn(timesteps)


def sample_actions(model, n_samples: int) -> np.ndarray:
    """n_samples actions of the learned policy for the task's single state, shape (n_samples, 2)."""
    obs = np.zeros((n_samples, 1), dtype=np.float32)
    if isinstance(model, QVPO):  # the diffusion policy itself, without best-of-K selection by the critic
        with th.no_grad():
            return model.actor.sample(th.as_tensor(obs[:1]), n_samples)[0].cpu().numpy()
    return model.predict(obs, deterministic=False)[0]


def optima() -> np.ndarray:
    return gym.make(ENV_ID).unwrapped.optima


def shares_after_training(variant: str, seed: int, timesteps: int, n_samples: int) -> tuple[np.ndarray, int]:
    """
    Train QVPO with one variant (in a worker process, one thread).

    :return: the share of the samples near each optimum, and the steps the model was trained for
    """
    th.set_num_threads(1)
    model = train("qvpo", timesteps, seed, **VARIANTS[variant][1])
    return mode_shares(sample_actions(model, n_samples), optima(), RADIUS), model.num_timesteps


def variants_table(variants: list[str], timesteps: int, seeds: list[int], n_samples: int, jobs: int) -> str:
    """Train each variant for every seed (``jobs`` processes at a time); a markdown table of the shares."""
    runs = [(variant, seed) for variant in variants for seed in seeds]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {run: pool.submit(shares_after_training, *run, timesteps, n_samples) for run in runs}
        results = {run: future.result() for run, future in futures.items()}
    kept = {run: int((shares >= MIN_SHARE).sum()) for run, (shares, _) in results.items()}
    lines = [
        f"| QVPO setting | seed | steps | share near each optimum | optima kept (>= {MIN_SHARE:.0%}) |",
        "|---|---|---|---|---|",
    ]
    for (variant, seed), (shares, steps) in results.items():
        row_text = " / ".join(f"{share:.2f}" for share in shares)
        lines.append(f"| {VARIANTS[variant][0]} | {seed} | {steps} | {row_text} | {kept[variant, seed]} |")
    for variant in variants:
        print(f"{variant}: optima kept per seed {[kept[variant, seed] for seed in seeds]}")
    return "\n".join(lines)


def plot(samples: dict[str, np.ndarray], path: str) -> None:
    env = gym.make(ENV_ID).unwrapped
    grid = np.linspace(-1, 1, 201)
    reward = env.reward(np.stack(np.meshgrid(grid, grid), axis=-1))
    fig, axes = plt.subplots(1, len(samples), figsize=(4.2 * len(samples), 4.4))
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
    parser.add_argument("--timesteps", type=int, default=4000, help="training steps of each run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the picture's runs")
    parser.add_argument("--samples", type=int, default=1000, help="actions drawn from each policy")
    parser.add_argument("--out", default="multimodal.png", help="PNG to write")
    parser.add_argument(
        "--variants",
        nargs="*",
        choices=list(VARIANTS),
        help="print a table of these QVPO variants instead of drawing the picture (none named: all of them)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of --variants")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes of --variants")
    args = parser.parse_args()

    if args.variants is not None:
        print(variants_table(args.variants or list(VARIANTS), args.timesteps, args.seeds, args.samples, args.jobs))
        return
    runs = {
        "QVPO, multimodal settings": ("qvpo", {}),
        "QVPO, clipped advantage, best only": ("qvpo", VARIANTS["paper-selection"][1]),
        "SAC (Gaussian policy)": ("sac", {}),
    }
    samples = {}
    for name, (algo, overrides) in runs.items():
        actions = sample_actions(train(algo, args.timesteps, args.seed, **overrides), args.samples)
        shares = mode_shares(actions, optima(), RADIUS)
        print(f"{name}: share of samples near each optimum {np.round(shares, 3).tolist()}, near any {shares.sum():.0%}")
        samples[name] = actions
    plot(samples, args.out)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
