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


# The published 100,000-step comparison (SAC, TD3 and the MuJoCo CPU preset), the screen's reference
PUBLISHED_100K = Path(__file__).resolve().parents[1] / "docs" / "evidence" / "mujoco100k.csv"
SCREEN_STEPS = (40_000, 45_000, 50_000)
CONFIRM_STEPS = (90_000, 95_000, 100_000)
COST_CAP = 3.2


def training_time_per_step(run) -> tuple[float, float, int]:
    """One run's training seconds to its last step, per step after the 10,000 random ones, and its last step."""
    wall = run.set_index("step")["wall_s"]
    last = int(wall.index.max())
    return float(wall[last]), float((wall[last] - wall[10_000]) / (last - 10_000)), last


def projected_training_s(runs, budget: int = 100_000) -> float:
    """A run's training time projected to ``budget`` steps from its time to its last step (mean over runs)."""
    times = []
    for _, run in runs.groupby(["env", "seed"]):
        elapsed, per_step, last = training_time_per_step(run)
        times.append(elapsed + (budget - last) * per_step)
    return float(sum(times) / len(times))


def ms_per_step(runs) -> float:
    """Training milliseconds per step after the random ones, mean over runs."""
    times = [training_time_per_step(run)[1] for _, run in runs.groupby(["env", "seed"])]
    return 1e3 * sum(times) / len(times)


def screen_table(out: Path, specs: list[dict], steps: tuple[int, ...] = SCREEN_STEPS) -> str:
    """The rule of docs/presets.md applied to the runs of ``specs`` under ``out`` (see :func:`score_table`)."""
    from compare_report import load_results

    envs = list(dict.fromkeys(spec["env"] for spec in specs))
    seeds = sorted({spec["seed"] for spec in specs})
    labels = list(dict.fromkeys(spec["label"] for spec in specs))
    return score_table(load_results(out, specs), envs, seeds, labels, steps)


def read_costs(path: Path) -> dict[str, float]:
    """The ratio to SAC of every model in the table printed by benchmarks/preset_cost.py, by variant name."""
    costs = {}
    for line in path.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] not in ("variant", "---"):
            costs[cells[0]] = float(cells[3])
    if "sac" not in costs:
        raise ValueError(f"{path} holds no table of benchmarks/preset_cost.py (no row for sac)")
    return costs


def score_table(
    results,
    envs: list[str],
    seeds: list[int],
    labels: list[str],
    steps: tuple[int, ...] = SCREEN_STEPS,
    costs: dict[str, float] | None = None,
) -> str:
    """
    The rule of docs/presets.md applied: per variant (label ``qvpo-<variant>``), each run's mean return over
    ``steps`` (per task and seed), the score (mean of the tasks' ratios to SAC's published score over the same
    steps), the spread (half the difference between the seeds' ratio-means), the training ms per step of its
    own runs, and the cost: the projected 100,000-step training time over SAC's published one, or, where
    ``costs`` (benchmarks/preset_cost.py's ratios to SAC, measured in one run) is given, that ratio.
    """
    import pandas as pd

    published = pd.read_csv(PUBLISHED_100K)
    sac = published[published["algo"] == "sac"]
    sac_score = {env: sac[(sac["env"] == env) & sac["step"].isin(steps)]["mean_return"].mean() for env in envs}
    sac_time = sac[(sac["step"] == 100_000) & sac["env"].isin(envs)]["wall_s"].mean()
    preset = published[(published["algo"] == "qvpo") & published["seed"].isin([0, 1])].assign(algo="published preset")
    rows = pd.concat([preset, results], ignore_index=True)
    header = "| variant | " + " | ".join(f"{env} s{seed}" for env in envs for seed in seeds)
    cost_name = "cost (one run)" if costs is not None else "cost"
    lines = [
        header + f" | score | spread | ms per step | {cost_name} | admissible |",
        "|---|" + "---|" * (len(envs) * len(seeds) + 5),
    ]
    for label in ["published preset", *labels]:
        name = label.removeprefix("qvpo-")
        runs = rows[rows["algo"] == label]
        cells, ratios = [], {seed: [] for seed in seeds}
        for env in envs:
            for seed in seeds:
                run = runs[(runs["env"] == env) & (runs["seed"] == seed) & runs["step"].isin(steps)]
                if len(run) < len(steps):
                    cells.append("")
                    continue
                cells.append(f"{run['mean_return'].mean():.0f}")
                ratios[seed].append(run["mean_return"].mean() / sac_score[env])
        complete = all(len(values) == len(envs) for values in ratios.values())
        if not complete:
            lines.append(f"| {name} | " + " | ".join(cells) + " | | | | | |")
            continue
        per_seed = [sum(values) / len(envs) for values in ratios.values()]
        task_runs = runs[runs["env"].isin(envs)]
        if costs is None:
            cost: float | None = projected_training_s(task_runs) / sac_time
        else:
            cost = costs.get("base" if label == "published preset" else name)
        cost_cell = "" if cost is None else f"{cost:.2f}"
        verdict = "" if cost is None else ("yes" if cost <= COST_CAP else "no")
        lines.append(
            f"| {name} | " + " | ".join(cells)
            + f" | {sum(per_seed) / len(per_seed):.2f} | {(max(per_seed) - min(per_seed)) / 2:.2f}"
            + f" | {ms_per_step(task_runs):.1f} | {cost_cell} | {verdict} |"
        )  # fmt: skip
    lines.append("")
    cost_note = (
        "cost: ratio to SAC's ms per training step, measured in one run by benchmarks/preset_cost.py (the published "
        "preset does the base's work per step)."
        if costs is not None
        else "cost: projected 100,000-step training time over SAC's."
    )
    lines.append(
        f"Each cell: a run's mean return at {', '.join(map(str, steps))} steps. SAC's score over the same steps "
        + ", ".join(f"{env} {value:.0f}" for env, value in sac_score.items())
        + f"; SAC's mean training time per 100,000-step run {sac_time / 60:.1f} min (published runs). ms per step: "
        "training time per step after the 10,000 random steps, mean over the variant's own runs. " + cost_note
    )
    return "\n".join(lines)


def table_from_csv(args: argparse.Namespace) -> str:
    """The screen table of the variants found in the CSVs given (``qvpo-<variant>`` labels), in the sweep's order."""
    import pandas as pd

    if args.sweep != "mujoco100k":
        raise SystemExit("error: --table-from is for --sweep mujoco100k")
    results = pd.concat([pd.read_csv(path) for path in args.table_from], ignore_index=True)
    labels = [f"qvpo-{name}" for name in args.variants if f"qvpo-{name}" in set(results["algo"])]
    costs = read_costs(args.costs) if args.costs else None
    envs = args.envs or list(SWEEPS[args.sweep][1])
    steps = CONFIRM_STEPS if args.confirm else SCREEN_STEPS
    return score_table(results, envs, args.seeds, labels, steps, costs)


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
    parser.add_argument(
        "--table-from",
        nargs="+",
        metavar="CSV",
        help="mujoco100k: run nothing; print the screen table of the evaluations in these CSVs (results.csv format)",
    )
    parser.add_argument("--costs", type=Path, help="with --table-from: the cost column from preset_cost.py's printed table")
    parser.add_argument("--confirm", action="store_true", help="with --table-from: score at 90,000-100,000 steps")
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
    if args.table_from:
        print(table_from_csv(args))
        return
    if args.costs or args.confirm:
        parser.error("--costs and --confirm go with --table-from")
    out = Path(args.out)
    specs = plan(args)
    failed = run_comparison(specs, out, min(args.jobs, len(specs)))
    written = write_report(out, specs)
    print("Wrote " + ", ".join(str(path) for path in written), flush=True)
    print(summary_table(out, specs))
    if args.sweep == "mujoco100k":
        steps = SCREEN_STEPS if args.stop_at is not None else CONFIRM_STEPS
        (out / "screen_table.md").write_text(screen_table(out, specs, steps) + "\n")
        print(screen_table(out, specs, steps))
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: {failed}")


if __name__ == "__main__":
    main()
