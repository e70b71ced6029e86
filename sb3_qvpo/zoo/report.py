"""
``python -m sb3_qvpo.zoo report``: PNG learning curves and an IQM table from a folder of rl-zoo3 runs (QVPO and
SB3 algorithms alike), on a machine without a display.

rl-zoo3's ``all_plots`` gathers the evaluations (``<folder>/<algo>/<env>_<n>/evaluations.npz``) and draws one
figure per env, but only shows them; here its figures are saved as ``curves_<env>.png``, its post-processed
results kept as ``results.pkl``, and ``table.md`` gives, per env and algorithm, the interquartile mean (IQM) of the
runs' last evaluations with a 95% percentile-bootstrap interval (``sb3_qvpo.evaluation``: rliable's IQM,
``trim_mean(x, 0.25)``, through scipy; rliable's own package does not import beside pandas 3). rl-zoo3 needs
at least two evaluation episodes per evaluation (its default is 5).

    python -m sb3_qvpo.zoo report -a qvpo sac -e Pendulum-v1 -f logs/ -o report/
"""

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

from sb3_qvpo.evaluation import format_iqm


def iqm_table(results: dict) -> str:
    """The markdown table of rl-zoo3's post-processed results: IQM of the last evaluations per env and algorithm."""
    lines = ["| env | algo | runs | last step | last evaluation, IQM [95% CI] |", "|---|---|---|---|---|"]
    for env, by_algo in results.items():
        if env == "results_table":
            continue
        for label, data in by_algo.items():
            last = np.atleast_1d(np.asarray(data["last_evals"], dtype=float))
            lines.append(f"| {env} | {label} | {len(last)} | {int(data['timesteps'][-1])} | {format_iqm(last)} |")
    return "\n".join(lines) + "\n"


def report(argv: list[str]) -> list[Path]:
    """Run rl-zoo3's all_plots headless on ``argv`` and write the curves, results and table; return the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rl_zoo3.plots.all_plots import all_plots

    parser = argparse.ArgumentParser(prog="python -m sb3_qvpo.zoo report", description=__doc__.split("\n\n")[0])
    parser.add_argument("-a", "--algos", nargs="+", required=True, help="algorithms (folder names under each -f)")
    parser.add_argument("-e", "--env", nargs="+", required=True, help="env ids")
    parser.add_argument("-f", "--exp-folders", nargs="+", required=True, help="rl-zoo3 log folders")
    parser.add_argument("-o", "--output", required=True, help="folder for curves_<env>.png, results.pkl, table.md")
    parser.add_argument("-max", "--max-timesteps", type=int, default=None, help="last step to include")
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    zoo_args = ["all_plots", "-a", *args.algos, "-e", *args.env, "-f", *args.exp_folders, "--no-display"]
    zoo_args += ["--no-million", "-o", str(out / "results")]
    if args.max_timesteps is not None:
        zoo_args += ["-max", str(args.max_timesteps)]
    argv_before, sys.argv = sys.argv, zoo_args
    try:
        all_plots()
    finally:
        sys.argv = argv_before
    written = []
    for env in args.env:
        figure = plt.figure(f"Results {env}")
        path = out / f"curves_{env.replace('/', '_')}.png"
        figure.savefig(path, dpi=120, bbox_inches="tight")
        written.append(path)
    with open(out / "results.pkl", "rb") as file:
        results = pickle.load(file)
    (out / "table.md").write_text(iqm_table(results))
    written += [out / "results.pkl", out / "table.md"]
    print("Wrote " + ", ".join(str(path) for path in written))
    return written
