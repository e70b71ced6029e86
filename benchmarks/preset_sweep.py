"""
Choose a preset by measurement: QVPO at a handful of settings, 3 seeds each, through benchmarks/compare.py
(same runner, resuming and report). ``--sweep cpu``: the CPU preset, on Pendulum-v1 and InvertedPendulum-v5;
``--sweep mujoco``: the MuJoCo CPU preset, on Hopper-v5; ``--sweep ddim``: DDIM sampling with S = 5 and 10 of
T = 20 steps against the exact sampler (Pendulum-v1, InvertedPendulum-v5, a short Hopper-v5 run).

    PYTHONPATH=. python benchmarks/preset_sweep.py --out preset_sweep            # the cpu sweep, about 2 hours on 2 cores
    PYTHONPATH=. python benchmarks/preset_sweep.py --sweep mujoco --seeds 0 1 --out mujoco_sweep
    PYTHONPATH=. python benchmarks/preset_sweep.py --sweep ddim --out ddim_sweep
    PYTHONPATH=. python benchmarks/preset_sweep.py --variants 3x64-T5-N16 --seeds 0 --timesteps 2000

Every variant of a sweep shares its base settings and changes the network, the number of train candidates N,
the number of denoising steps T (or the batch, or the sampling steps S); everything else is QVPO's default.
OUT/table.md gives the final and best evaluation return and the training wall time of each variant (label
qvpo-<variant>); OUT/results.csv every evaluation. docs/presets.md records the run behind the shipped preset.
"""

import argparse
import os
from pathlib import Path

from compare import add_resume_arguments, check_resume_arguments, run_comparison  # benchmarks/compare.py
from compare_report import write_report


def variant(
    base: dict, layers: list[int], n_steps: int, n_candidates: int, n_sampling_steps: int | None = None, **overrides
) -> dict:
    policy_kwargs: dict = dict(net_arch=layers)
    if n_sampling_steps is not None:
        policy_kwargs["n_sampling_steps"] = n_sampling_steps
    settings = dict(base, n_diffusion_steps=n_steps, n_train_candidates=n_candidates, policy_kwargs=policy_kwargs)
    return {**settings, **overrides}


# The CPU preset (Pendulum-v1 and InvertedPendulum-v5, minutes per run)
CPU_BASE = dict(learning_starts=1000, batch_size=128, n_eval_candidates=16)
# The MuJoCo CPU preset (Hopper-v5; 10,000 random steps as rl-zoo3's SAC and TD3 use there)
MUJOCO_BASE = dict(learning_starts=10_000, batch_size=256, n_eval_candidates=16)

# The screen of the MuJoCo preset for 100,000 steps: the MuJoCo CPU preset with the entropy coefficient decaying
# over the paper's 1M-step horizon (so that a run's first 50,000 steps do not depend on its budget)
MUJOCO_SCREEN_BASE = dict(
    MUJOCO_BASE,
    batch_size=128,
    n_diffusion_steps=5,
    n_train_candidates=16,
    ent_coef_decay_steps=1_000_000,
)
POLICY_KEYS = ("n_sampling_steps", "sampling_dtype")


def screen_variant(pi: tuple[int, ...] = (64, 64, 64), qf: tuple[int, ...] = (64, 64, 64), **overrides) -> dict:
    """The screen's base with the denoiser (pi) and critic (qf) widths and the settings given."""
    policy_kwargs = dict(net_arch=dict(pi=list(pi), qf=list(qf)))
    policy_kwargs.update({key: overrides.pop(key) for key in POLICY_KEYS if key in overrides})
    return dict(MUJOCO_SCREEN_BASE, policy_kwargs=policy_kwargs, **overrides)


SWEEPS: dict[str, tuple[dict[str, dict], dict[str, int]]] = {
    "cpu": (
        {
            "2x64-T5-N16": variant(CPU_BASE, [64, 64], 5, 16),
            "3x64-T5-N16": variant(CPU_BASE, [64, 64, 64], 5, 16),
            "3x128-T5-N16": variant(CPU_BASE, [128, 128, 128], 5, 16),
            "3x64-T5-N32": variant(CPU_BASE, [64, 64, 64], 5, 32),
            "3x64-T10-N16": variant(CPU_BASE, [64, 64, 64], 10, 16),
        },
        {"Pendulum-v1": 10_000, "InvertedPendulum-v5": 10_000},
    ),
    "mujoco": (
        {
            "3x64-T5-N16": variant(MUJOCO_BASE, [64, 64, 64], 5, 16),
            "3x128-T5-N16-B128": variant(MUJOCO_BASE, [128, 128, 128], 5, 16, batch_size=128),
            "3x64-T5-N16-B128": variant(MUJOCO_BASE, [64, 64, 64], 5, 16, batch_size=128),
            "3x64-T5-N32-B128": variant(MUJOCO_BASE, [64, 64, 64], 5, 32, batch_size=128),
            "3x64-T10-N16-B128": variant(MUJOCO_BASE, [64, 64, 64], 10, 16, batch_size=128),
        },
        {"Hopper-v5": 30_000},
    ),
    # Not a preset: DDIM's fewer-step sampling (S of T = 20 steps) against the exact sampler, at the CPU preset
    # The MuJoCo preset for 100,000 steps (docs/presets.md): one setting at a time changed from the screen's
    # base, on HalfCheetah-v5 and Hopper-v5, judged at 50,000 steps of a 100,000-step run (--stop-at 50000)
    "mujoco100k": (
        {
            "base": screen_variant(),
            "qf2x256": screen_variant(qf=(256, 256)),
            "qf3x256": screen_variant(qf=(256, 256, 256)),
            "pi3x128": screen_variant(pi=(128, 128, 128)),
            "pi3x256": screen_variant(pi=(256, 256, 256)),
            "pi3x256-bf16": screen_variant(pi=(256, 256, 256), sampling_dtype="bfloat16"),
            "T20-S5": screen_variant(n_diffusion_steps=20, n_sampling_steps=5),
            "T20-S10": screen_variant(n_diffusion_steps=20, n_sampling_steps=10),
            "N32": screen_variant(n_train_candidates=32),
            "N64": screen_variant(n_train_candidates=64),
            "B256": screen_variant(batch_size=256),
        },
        {"HalfCheetah-v5": 100_000, "Hopper-v5": 100_000},
    ),
    "ddim": (
        {
            "3x64-T20-N16": variant(CPU_BASE, [64, 64, 64], 20, 16),
            "3x64-T20-S10-N16": variant(CPU_BASE, [64, 64, 64], 20, 16, n_sampling_steps=10),
            "3x64-T20-S5-N16": variant(CPU_BASE, [64, 64, 64], 20, 16, n_sampling_steps=5),
        },
        {"Pendulum-v1": 10_000, "InvertedPendulum-v5": 10_000, "Hopper-v5": 20_000},
    ),
}


def plan(args: argparse.Namespace) -> list[dict]:
    variants, envs = SWEEPS[args.sweep]
    specs = []
    # the longer task first, so that the last runs to finish are short ones
    for env_id in sorted(args.envs or envs, key=envs.get, reverse=True):
        timesteps = args.timesteps or envs[env_id]
        for seed in args.seeds:
            for name in args.variants:
                specs.append(
                    dict(
                        algo="qvpo",
                        label=f"qvpo-{name}",
                        env=env_id,
                        seed=seed,
                        timesteps=timesteps,
                        eval_freq=max(1, timesteps // args.n_evals),
                        eval_episodes=args.eval_episodes,
                        qvpo_settings="paper",  # QVPO's defaults, then the variant's settings on top
                        algo_kwargs=variants[name],
                        device="cpu",
                        threads=1,
                        checkpoint_freq=args.checkpoint_freq,
                        stop_at=args.stop_at,
                    )
                )
    return specs


def summary_table(out: Path, specs: list[dict]) -> str:
    """One row per variant: final and best return per env (mean ± std over seeds) and training minutes per run."""
    import pandas as pd

    results = pd.read_csv(out / "results.csv")
    envs = list(dict.fromkeys(spec["env"] for spec in specs))
    header = "| variant | " + " | ".join(f"{env} final | {env} best | {env} min/run" for env in envs) + " |"
    lines = [header, "|---|" + "---|---|---|" * len(envs)]
    for label in dict.fromkeys(spec["label"] for spec in specs):
        cells = []
        for env_id in envs:
            runs = results[(results["algo"] == label) & (results["env"] == env_id)]
            if runs.empty:
                cells += ["", "", ""]
                continue
            last = runs.sort_values("step").groupby("seed").tail(1)
            best = runs.groupby("seed")["mean_return"].max()
            cells.append(f"{last['mean_return'].mean():.0f} ± {last['mean_return'].std(ddof=0):.0f}")
            cells.append(f"{best.mean():.0f} ± {best.std(ddof=0):.0f}")
            cells.append(f"{last['wall_s'].mean() / 60:.1f}")
        lines.append(f"| {label.removeprefix('qvpo-')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", choices=list(SWEEPS), default="cpu", help="which preset to measure (default: cpu)")
    parser.add_argument("--variants", nargs="+", help="a subset of the sweep's variants (default: all)")
    parser.add_argument("--envs", nargs="+", help="a subset of the sweep's tasks (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=None, help="steps per run (default: the sweep's)")
    parser.add_argument("--n-evals", type=int, default=10, help="evaluations per run")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at a time, one thread each")
    add_resume_arguments(parser)
    parser.add_argument("--out", default="preset_sweep")
    args = parser.parse_args()
    if args.timesteps is not None and args.timesteps <= 0:
        parser.error("--timesteps must be positive")
    check_resume_arguments(parser, args)
    variants = SWEEPS[args.sweep][0]
    args.variants = args.variants or list(variants)
    unknown = [name for name in args.variants if name not in variants]
    if unknown:
        parser.error(f"unknown variant(s) {unknown} of the {args.sweep} sweep; choose among {list(variants)}")

    unknown = [env_id for env_id in args.envs or [] if env_id not in SWEEPS[args.sweep][1]]
    if unknown:
        parser.error(f"unknown task(s) {unknown} of the {args.sweep} sweep; choose among {list(SWEEPS[args.sweep][1])}")
    out = Path(args.out)
    specs = plan(args)
    failed = run_comparison(specs, out, min(args.jobs, len(specs)))
    written = write_report(out, specs)
    print("Wrote " + ", ".join(str(path) for path in written), flush=True)
    print(summary_table(out, specs))
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: {failed}")


if __name__ == "__main__":
    main()
