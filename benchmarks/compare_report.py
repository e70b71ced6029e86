"""
The report of benchmarks/compare.py: the combined CSV, a learning-curve PNG per env, and a markdown table.

Statistics come from sb3_qvpo.evaluation (scipy.stats): the interquartile mean (IQM) over seeds is
`trim_mean(x, 0.25)` (the function rliable's IQM uses), and its 95% confidence interval is a percentile bootstrap
over seeds (`scipy.stats.bootstrap`, 10,000 resamples). rliable itself is not used: its latest release (1.2.0) needs
arch < 8, and arch 7 does not import with pandas 3. With 3 seeds the IQM trims nothing and equals the mean,
and the bootstrap interval is wide and coarse: read it as a statement about these seeds, nothing more.

Run as a script, it writes the same report from stored evaluations (CSVs in results.csv's format, e.g. those of
docs/evidence), merged, relabelled and selected:

    PYTHONPATH=. python benchmarks/compare_report.py docs/evidence/mujoco100k.csv --algos sac td3 --out report
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from sb3_qvpo.evaluation import format_iqm

COLUMNS = ["algo", "env", "seed", "step", "mean_return", "std_return", "wall_s"]


def load_results(out: Path, specs: list[dict]) -> pd.DataFrame:
    """The evaluations of the finished runs among `specs` (or paused at their stop_at), one row per evaluation."""
    frames = []
    for spec in specs:
        run_dir = out / "runs" / f"{spec['label']}__{spec['env'].replace('/', '_')}__{spec['seed']}"
        checkpoint = run_dir / "checkpoint.json"
        paused = spec.get("stop_at") and checkpoint.exists() and json.loads(checkpoint.read_text())["step"] >= spec["stop_at"]
        if (run_dir / "done.json").exists() or paused:
            evals = pd.read_csv(run_dir / "evals.csv")
            frames.append(evals[evals["step"] <= (spec.get("stop_at") or spec["timesteps"])])
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def per_seed_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Final (last evaluation) and best evaluation return of every run, and its training wall time."""
    last = results.sort_values("step").groupby(["env", "algo", "seed"]).tail(1).set_index(["env", "algo", "seed"])
    summary = last[["step", "wall_s"]].rename(columns={"step": "steps"})
    summary["final"] = last["mean_return"]
    summary["best"] = results.groupby(["env", "algo", "seed"])["mean_return"].max()
    return summary.reset_index()


def write_table(results: pd.DataFrame, path: Path, envs: list[str], algos: list[str]) -> None:
    summary = per_seed_summary(results)
    lines = [
        "| env | algo | seeds | steps | final return, IQM [95% CI] | best return, IQM [95% CI] | final, mean ± std "
        "| training wall time, min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for env_id in envs:
        for algo in algos:
            runs = summary[(summary["env"] == env_id) & (summary["algo"] == algo)]
            if runs.empty:
                continue
            final, best = runs["final"].to_numpy(), runs["best"].to_numpy()
            lines.append(
                f"| {env_id} | {algo} | {len(runs)} | {int(runs['steps'].max())} | {format_iqm(final)} | {format_iqm(best)} "
                f"| {final.mean():.1f} ± {final.std():.1f} | {runs['wall_s'].mean() / 60:.1f} |"
            )
    lines.append("")
    lines.append(
        "Final: the last evaluation of each run; best: the highest evaluation during the run (the paper's measure). "
        "Each evaluation is the mean return of deterministic episodes. IQM and 95% percentile-bootstrap interval "
        "over seeds (scipy.stats); no interval with fewer than two distinct values. Wall time: training only, "
        "evaluations excluded, mean over seeds."
    )
    path.write_text("\n".join(lines) + "\n")


def plot_curves(results: pd.DataFrame, env_id: str, path: Path, algos: list[str]) -> None:
    """Return vs steps and vs wall time: mean over seeds, band from the lowest to the highest seed."""
    fig, (ax_steps, ax_time) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    env_results = results[results["env"] == env_id]
    for index, algo in enumerate(algos):
        runs = env_results[env_results["algo"] == algo]
        if runs.empty:
            continue
        # only the steps every seed reached, so that the mean is over the same seeds everywhere
        by_step = runs.groupby("step").agg(
            mean=("mean_return", "mean"),
            low=("mean_return", "min"),
            high=("mean_return", "max"),
            wall=("wall_s", "mean"),
            n=("seed", "nunique"),
        )
        by_step = by_step[by_step["n"] == runs["seed"].nunique()]
        color = f"C{index}"
        label = f"{algo} (n={runs['seed'].nunique()})"
        for ax, x in ((ax_steps, by_step.index), (ax_time, by_step["wall"] / 60)):
            ax.plot(x, by_step["mean"], color=color, label=label, marker=".")
            ax.fill_between(x, by_step["low"], by_step["high"], color=color, alpha=0.2, linewidth=0)
    ax_steps.set_xlabel("environment steps")
    ax_time.set_xlabel("training wall time, minutes (mean over seeds)")
    ax_steps.set_ylabel("evaluation return")
    ax_steps.legend(loc="best", fontsize="small")
    for ax in (ax_steps, ax_time):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{env_id}: deterministic evaluation return, mean over n seeds (band: min to max)", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_outputs(results: pd.DataFrame, out: Path, envs: list[str], algos: list[str], prefix: str = "") -> list[Path]:
    """``results`` as OUT/<prefix>results.csv, a learning-curve PNG per env and the markdown table."""
    csv_path = out / f"{prefix}results.csv"
    results.to_csv(csv_path, index=False)
    written = [csv_path]
    if results.empty:
        return written
    for env_id in envs:
        if (results["env"] == env_id).any():
            png_path = out / f"{prefix}curves_{env_id.replace('/', '_')}.png"
            plot_curves(results, env_id, png_path, algos)
            written.append(png_path)
    table_path = out / f"{prefix}table.md"
    write_table(results, table_path, envs, algos)
    return [*written, table_path]


def write_report(out: Path, specs: list[dict]) -> list[Path]:
    """Combined CSV, one PNG per env and the markdown table of the finished runs among `specs`."""
    algos = list(dict.fromkeys(spec["label"] for spec in specs))
    envs = list(dict.fromkeys(spec["env"] for spec in specs))
    return write_outputs(load_results(out, specs), out, envs, algos)


def merge_results(
    paths: list[Path], relabel: dict[str, str], algos: list[str] | None = None, envs: list[str] | None = None
) -> pd.DataFrame:
    """
    The evaluations of several CSVs in one frame: labels renamed by ``relabel`` (all at once), then only the
    ``algos`` and ``envs`` given (all by default). An error if a CSV lacks a column, if an evaluation appears
    twice, if a selected algo or env has no evaluation, or if the selected runs end at different steps.
    """
    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        missing = [column for column in COLUMNS if column not in frame.columns]
        if missing:
            raise SystemExit(f"error: {path} lacks the column(s) {missing} (expected {COLUMNS})")
        frames.append(frame[COLUMNS])
    results = pd.concat(frames, ignore_index=True)
    results["algo"] = results["algo"].replace(relabel)
    for column, chosen in (("algo", algos), ("env", envs)):
        if chosen:
            absent = [value for value in chosen if value not in set(results[column])]
            if absent:
                raise SystemExit(f"error: no evaluation of {column} {absent} in {[str(path) for path in paths]}")
            results = results[results[column].isin(chosen)]
    twice = results[results.duplicated(["algo", "env", "seed", "step"], keep=False)]
    if not twice.empty:
        first = twice.iloc[0]
        raise SystemExit(
            f"error: {len(twice)} evaluations appear more than once, e.g. {first['algo']} {first['env']} seed "
            f"{first['seed']} step {first['step']} (relabel or select so that each run comes from one CSV)"
        )
    last_steps = results.groupby(["algo", "env", "seed"])["step"].max()
    if last_steps.nunique() > 1:
        shortest = last_steps.idxmin()
        raise SystemExit(
            f"error: the runs end at different steps ({sorted(set(last_steps))}), e.g. {' '.join(map(str, shortest))} "
            f"at {last_steps.min()}; select finished runs only"
        )
    return results.reset_index(drop=True)


def parse_relabel(items: list[str]) -> dict[str, str]:
    relabel = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise SystemExit(f"error: --relabel: '{item}' is not OLD=NEW")
        relabel[old] = new
    return relabel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csvs", nargs="+", type=Path, metavar="CSV", help="evaluations in results.csv's format")
    parser.add_argument(
        "--relabel", nargs="+", default=[], metavar="OLD=NEW", help="rename algorithm labels, e.g. qvpo-B256=qvpo"
    )
    parser.add_argument("--algos", nargs="+", help="labels to keep, in the table's order (default: all, as found)")
    parser.add_argument("--envs", nargs="+", help="envs to keep, in the table's order (default: all, as found)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--prefix", default="", help="prefix of the output file names (e.g. mujoco100k_)")
    args = parser.parse_args()
    results = merge_results(args.csvs, parse_relabel(args.relabel), args.algos, args.envs)
    args.out.mkdir(parents=True, exist_ok=True)
    algos = args.algos or list(dict.fromkeys(results["algo"]))
    envs = args.envs or list(dict.fromkeys(results["env"]))
    written = write_outputs(results, args.out, envs, algos, args.prefix)
    print("Wrote " + ", ".join(str(path) for path in written))
    print((args.out / f"{args.prefix}table.md").read_text())


if __name__ == "__main__":
    main()
