"""
Choose the CPU preset by measurement: QVPO at a handful of CPU-sized settings on Pendulum-v1 and
InvertedPendulum-v5, 3 seeds each, through benchmarks/compare.py (same runner, resuming and report).

    PYTHONPATH=. python benchmarks/preset_sweep.py --out preset_sweep            # every variant, about 2 hours on 2 cores
    PYTHONPATH=. python benchmarks/preset_sweep.py --variants 3x64-T5-N16 --seeds 0 --timesteps 2000

Every variant shares the settings in BASE and changes the network, the number of train candidates N or
the number of denoising steps T; everything else is QVPO's default. OUT/table.md gives the final and best
evaluation return and the training wall time of each variant (label qvpo-<variant>); OUT/results.csv
every evaluation. docs/presets.md records the run behind the shipped preset.
"""

import argparse
import os
from pathlib import Path

from compare import run_comparison  # benchmarks/compare.py, beside this script
from compare_report import write_report

BASE = dict(learning_starts=1000, batch_size=128, n_eval_candidates=16)


def variant(layers: list[int], n_steps: int, n_candidates: int) -> dict:
    return dict(BASE, n_diffusion_steps=n_steps, n_train_candidates=n_candidates, policy_kwargs=dict(net_arch=layers))


VARIANTS = {
    "2x64-T5-N16": variant([64, 64], 5, 16),
    "3x64-T5-N16": variant([64, 64, 64], 5, 16),
    "3x128-T5-N16": variant([128, 128, 128], 5, 16),
    "3x64-T5-N32": variant([64, 64, 64], 5, 32),
    "3x64-T10-N16": variant([64, 64, 64], 10, 16),
}
ENVS = {"Pendulum-v1": 10_000, "InvertedPendulum-v5": 10_000}


def plan(args: argparse.Namespace) -> list[dict]:
    specs = []
    # the longer task first, so that the last runs to finish are short ones
    for env_id in sorted(ENVS, key=ENVS.get, reverse=True):
        timesteps = args.timesteps or ENVS[env_id]
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
                        algo_kwargs=VARIANTS[name],
                        device="cpu",
                        threads=1,
                        checkpoint_freq=0,
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
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=None, help=f"steps per run (default: {ENVS})")
    parser.add_argument("--n-evals", type=int, default=10, help="evaluations per run")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at a time, one thread each")
    parser.add_argument("--out", default="preset_sweep")
    args = parser.parse_args()
    if args.timesteps is not None and args.timesteps <= 0:
        parser.error("--timesteps must be positive")

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
