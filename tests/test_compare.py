"""benchmarks/compare.py: the --quick comparison end to end, resuming, and bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

# slow: tens of seconds each (pytest -m "not expensive" skips them)
pytestmark = pytest.mark.expensive

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ROOT / "benchmarks" / "compare.py"


def run_compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(COMPARE), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )


def test_quick_comparison_and_resume(tmp_path):
    out = tmp_path / "quick"
    result = run_compare("--quick", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 runs, 0 finished earlier, 2 to run" in result.stdout
    assert "qvpo__Pendulum-v1__0: step 300/600" in result.stdout  # a progress line per evaluation

    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == ["algo", "env", "seed", "step", "mean_return", "std_return", "wall_s"]
    assert set(results["algo"]) == {"qvpo", "sac"} and set(results["env"]) == {"Pendulum-v1"}
    assert sorted(results[results["algo"] == "qvpo"]["step"]) == [300, 600]
    assert (results["mean_return"] < 0).all() and (results["wall_s"] > 0).all()
    png = out / "curves_Pendulum-v1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    assert "| Pendulum-v1 | qvpo | 1 | 600 |" in table and "| Pendulum-v1 | sac | 1 | 600 |" in table

    # resuming: finished runs are skipped, an unfinished one is run again from scratch
    done_times = {path: path.stat().st_mtime_ns for path in out.glob("runs/*/done.json")}
    assert len(done_times) == 2
    (out / "runs" / "sac__Pendulum-v1__0" / "done.json").unlink()
    result = run_compare("--quick", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 runs, 1 finished earlier, 1 to run" in result.stdout
    assert "start qvpo" not in result.stdout and "start sac__Pendulum-v1__0" in result.stdout
    qvpo_done = out / "runs" / "qvpo__Pendulum-v1__0" / "done.json"
    assert qvpo_done.stat().st_mtime_ns == done_times[qvpo_done]
    assert len(pd.read_csv(out / "results.csv")) == 4

    # everything finished: only the report is written again
    result = run_compare("--quick", "--out", str(out))
    assert result.returncode == 0 and "2 finished earlier, 0 to run" in result.stdout

    # the same folder with another budget is refused rather than mixed
    result = run_compare("--quick", "--out", str(out), "--timesteps", "800")
    assert result.returncode != 0 and "finished with other settings (eval_freq, timesteps differ)" in result.stderr
    assert json.loads(qvpo_done.read_text())["spec"]["timesteps"] == 600


def test_unknown_algo_and_env_are_named(tmp_path):
    result = run_compare("--quick", "--out", str(tmp_path), "--algos", "qvpo", "sacc")
    assert result.returncode != 0 and "unknown algorithm(s) ['sacc']" in result.stderr
    result = run_compare("--quick", "--out", str(tmp_path), "--envs", "Pendulum-v1", "NoSuchEnv-v0")
    assert result.returncode != 0 and "unknown environment id 'NoSuchEnv-v0'" in result.stderr
    result = run_compare("--quick", "--out", str(tmp_path), "--timesteps", "600", "Hopper-v5=100")
    assert result.returncode != 0 and "'Hopper-v5', which is not among --envs" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL mid-run, the same command again: it goes on from the checkpoint, every evaluation exactly once."""
    out = tmp_path / "resume"
    args = ["--quick", "--algos", "qvpo", "--out", str(out), "--timesteps", "3000", "--n-evals", "15"]
    args += ["--checkpoint-freq", "600"]
    run_dir = out / "runs" / "qvpo__Pendulum-v1__0"
    process = subprocess.Popen(
        [sys.executable, str(COMPARE), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # its own process group: the kill takes the run's process too
    )
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "checkpoint.json").exists():
            assert process.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed_at = json.loads((run_dir / "checkpoint.json").read_text())["step"]
    assert 600 <= killed_at < 3000 and killed_at % 600 == 0
    assert not (run_dir / "done.json").exists()

    result = run_compare(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resume qvpo__Pendulum-v1__0 from step {killed_at} (3000 steps)" in result.stdout
    evals = pd.read_csv(run_dir / "evals.csv")
    assert list(evals["step"]) == list(range(200, 3001, 200))  # none repeated, none lost
    assert evals["wall_s"].is_monotonic_increasing
    done = json.loads((run_dir / "done.json").read_text())
    assert done["num_timesteps"] == 3000 and done["resumed_from"] == [killed_at]
    assert not list(run_dir.glob("checkpoint*")) and not list(run_dir.glob(".tmp_*"))
    assert "Resuming from the checkpoint at step" in (run_dir / "log.txt").read_text()


def test_stop_at_pauses_runs_and_the_same_command_goes_on(tmp_path):
    """--stop-at leaves a checkpoint and no done.json; the report has the evaluations so far; without it, the run ends."""
    out = tmp_path / "paused"
    args = ["--quick", "--algos", "qvpo", "--out", str(out), "--timesteps", "1200", "--n-evals", "6"]
    run_dir = out / "runs" / "qvpo__Pendulum-v1__0"
    result = run_compare(*args, "--stop-at", "600")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "paused qvpo__Pendulum-v1__0 at step 600" in result.stdout
    assert json.loads((run_dir / "checkpoint.json").read_text())["step"] == 600
    assert not (run_dir / "done.json").exists()
    assert sorted(pd.read_csv(out / "results.csv")["step"]) == [200, 400, 600]

    result = run_compare(*args, "--stop-at", "600")  # paused runs count as finished
    assert result.returncode == 0 and "1 finished earlier, 0 to run" in result.stdout

    result = run_compare(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resume qvpo__Pendulum-v1__0 from step 600 (1200 steps)" in result.stdout
    assert list(pd.read_csv(run_dir / "evals.csv")["step"]) == [200, 400, 600, 800, 1000, 1200]
    done = json.loads((run_dir / "done.json").read_text())
    assert done["num_timesteps"] == 1200 and done["resumed_from"] == [600]
    assert not list(run_dir.glob("checkpoint*"))


def import_compare():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import compare
    finally:
        sys.path.pop(0)
    return compare


def test_only_settings_that_change_a_run_make_it_differ():
    compare = import_compare()
    sac = dict(algo="sac", env="Hopper-v5", seed=0, timesteps=1000, qvpo_settings="cpu", threads=1, device="cpu")
    assert compare.settings_that_differ(sac, {**sac, "qvpo_settings": "mujoco-cpu", "threads": 2}) == set()
    assert compare.settings_that_differ(sac, {**sac, "seed": 1, "timesteps": 2000}) == {"seed", "timesteps"}
    qvpo = {**sac, "algo": "qvpo"}
    assert compare.settings_that_differ(qvpo, {**qvpo, "qvpo_settings": "mujoco-cpu"}) == {"qvpo_settings"}


def test_zoo_hyperparams_are_rl_zoo3s_tuned_ones():
    compare = import_compare()
    # rl-zoo3 tunes the MuJoCo tasks under their v4 ids; the v5 id reads the same entry
    assert compare.zoo_hyperparams("sac", "Hopper-v5") == {"learning_starts": 10000}
    td3 = compare.zoo_hyperparams("td3", "HalfCheetah-v5")
    assert td3["policy_kwargs"] == {"net_arch": [400, 300]} and td3["learning_rate"] == 1e-3
    assert td3["action_noise_std"] == 0.1 and td3["learning_starts"] == 10000
    spec = dict(algo="td3", env="Hopper-v5", seed=0, device="cpu", qvpo_settings="cpu", algo_kwargs={}, zoo_hyperparams=True)
    model = compare.make_model(spec, gym.make("Hopper-v5"))
    assert model.learning_starts == 10000 and model.batch_size == 256
    assert model.action_noise is not None and np.allclose(model.action_noise._sigma, 0.1)
    assert [layer.out_features for layer in model.actor.mu if hasattr(layer, "out_features")] == [400, 300, 3]
    with pytest.raises(SystemExit, match="has no entry for NoSuchTask-v5"):
        compare.zoo_hyperparams("sac", "NoSuchTask-v5")


def test_screen_table_applies_the_rule_of_the_presets_page(tmp_path):
    """preset_sweep.screen_table: per-run means over the scored steps, the score as the mean of the tasks' ratios
    to SAC's published score, the spread, the training ms per step and the cost, from synthetic paused runs."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import preset_sweep
    finally:
        sys.path.pop(0)
    published = pd.read_csv(preset_sweep.PUBLISHED_100K)
    sac = published[published["algo"] == "sac"]
    steps = preset_sweep.SCREEN_STEPS
    sac_score = {
        env: sac[(sac["env"] == env) & sac["step"].isin(steps)]["mean_return"].mean()
        for env in ("Hopper-v5", "HalfCheetah-v5")
    }
    sac_time = sac[(sac["step"] == 100_000) & sac["env"].isin(list(sac_score))]["wall_s"].mean()

    specs, ratio = [], {0: 0.5, 1: 1.5}  # seed 0 at half SAC's score, seed 1 at 1.5 times, on both tasks
    for env in sac_score:
        for seed in (0, 1):
            spec = dict(label="qvpo-test", env=env, seed=seed, timesteps=100_000, stop_at=50_000)
            specs.append(spec)
            run_dir = tmp_path / "runs" / f"qvpo-test__{env}__{seed}"
            run_dir.mkdir(parents=True)
            rows = [
                dict(algo="qvpo-test", env=env, seed=seed, step=step, mean_return=ratio[seed] * sac_score[env], std_return=0.0,
                     wall_s=1.0 + 0.02 * max(0, step - 10_000))  # 20 ms per step after the random ones
                for step in range(5_000, 50_001, 5_000)
            ]  # fmt: skip
            pd.DataFrame(rows).to_csv(run_dir / "evals.csv", index=False)
            (run_dir / "checkpoint.json").write_text(json.dumps({"step": 50_000}))
    table = preset_sweep.screen_table(tmp_path, specs, steps)
    row = next(line for line in table.splitlines() if line.startswith("| test |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    hopper, cheetah = sac_score["Hopper-v5"], sac_score["HalfCheetah-v5"]
    assert cells[1:5] == [f"{0.5 * hopper:.0f}", f"{1.5 * hopper:.0f}", f"{0.5 * cheetah:.0f}", f"{1.5 * cheetah:.0f}"]
    cost = (1.0 + 0.02 * 90_000) / sac_time
    assert cells[5:] == ["1.00", "0.50", "20.0", f"{cost:.2f}", "yes" if cost <= preset_sweep.COST_CAP else "no"]
    # a variant missing a run gets no score
    (tmp_path / "runs" / "qvpo-test__Hopper-v5__1" / "checkpoint.json").write_text(json.dumps({"step": 40_000}))
    row = next(line for line in preset_sweep.screen_table(tmp_path, specs, steps).splitlines() if line.startswith("| test |"))
    assert [cell.strip() for cell in row.strip("|").split("|")][5] == ""


def test_screen_table_takes_the_cost_measured_in_one_run(tmp_path):
    """preset_sweep --table-from with --costs: the cost column is preset_cost.py's ratio to SAC, and decides
    admissibility; a variant the cost table does not name gets no cost."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import preset_sweep
    finally:
        sys.path.pop(0)
    rows = [
        dict(algo=f"qvpo-{name}", env=env, seed=seed, step=step, mean_return=100.0, std_return=0.0, wall_s=float(step))
        for name in ("base", "N64", "B256")
        for env in ("Hopper-v5", "HalfCheetah-v5")
        for seed in (0, 1)
        for step in range(5_000, 50_001, 5_000)
    ]
    csv = tmp_path / "screen.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    costs = tmp_path / "cost.txt"
    costs.write_text(
        "AMD EPYC (family 25, model 1), torch 2.13.0+cpu, 1 thread, HalfCheetah-v5, median of 5 x 100 steps\n"
        "| variant | ms per step | min-max | x SAC |\n|---|---|---|---|\n| sac | 30.0 | 29.0-31.0 | 1.00 |\n"
        "| base | 45.0 | 44.0-46.0 | 1.50 |\n| N64 | 99.0 | 98.0-100.0 | 3.30 |\n"
    )
    assert preset_sweep.read_costs(costs) == {"sac": 1.0, "base": 1.5, "N64": 3.3}
    args = ["--sweep", "mujoco100k", "--seeds", "0", "1", "--table-from", str(csv), "--costs", str(costs)]
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "preset_sweep.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    table = {line.split(" | ")[0].removeprefix("| "): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert list(table) == ["variant", "published preset", "base", "N64", "B256"]
    assert table["base"].endswith("| 1.50 | yes |") and table["N64"].endswith("| 3.30 | no |")
    assert table["B256"].endswith("|  |  |") and table["published preset"].endswith("| 1.50 | yes |")
    (tmp_path / "empty.txt").write_text("nothing\n")
    with pytest.raises(ValueError, match="no row for sac"):
        preset_sweep.read_costs(tmp_path / "empty.txt")


def test_report_from_stored_csvs_merges_relabels_and_refuses_ambiguity(tmp_path):
    """compare_report.py as a script: the table and curves of evaluations merged from several CSVs, a label
    renamed, one selected; an evaluation found twice or runs of different lengths are errors that name them."""

    def evaluations(algo, env, seeds, last_step, value):
        return [
            dict(algo=algo, env=env, seed=seed, step=step, mean_return=value + seed, std_return=0.0, wall_s=step / 100)
            for seed in seeds
            for step in range(5_000, last_step + 1, 5_000)
        ]

    published = tmp_path / "published.csv"
    seeds = (0, 1, 2)
    rows = evaluations("qvpo", "Hopper-v5", seeds, 20_000, 100.0) + evaluations("sac", "Hopper-v5", seeds, 20_000, 300.0)
    pd.DataFrame(rows).to_csv(published, index=False)
    confirm = tmp_path / "confirm.csv"
    pd.DataFrame(evaluations("qvpo-B256", "Hopper-v5", seeds, 20_000, 500.0)).to_csv(confirm, index=False)

    def report(*args):
        return subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "compare_report.py"), *args],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    out = tmp_path / "report"
    args = [str(published), str(confirm), "--out", str(out), "--prefix", "m_"]
    result = report(*args, "--relabel", "qvpo=qvpo-old", "qvpo-B256=qvpo", "--algos", "qvpo", "sac")
    assert result.returncode == 0, result.stderr
    merged = pd.read_csv(out / "m_results.csv")
    assert sorted(set(merged["algo"])) == ["qvpo", "sac"] and len(merged) == 24
    assert merged[merged["algo"] == "qvpo"]["mean_return"].min() == 500.0  # the relabelled runs, not the old ones
    rows = [line for line in (out / "m_table.md").read_text().splitlines() if line.startswith("| Hopper-v5")]
    assert [row.split(" | ")[1] for row in rows] == ["qvpo", "sac"]
    assert rows[0].split(" | ")[4].startswith("501.0") and rows[1].split(" | ")[4].startswith("301.0")  # IQM of 3 seeds
    assert (out / "m_curves_Hopper-v5.png").stat().st_size > 0

    result = report(*args, "--relabel", "qvpo-B256=qvpo")
    assert result.returncode != 0 and "appear more than once, e.g. qvpo Hopper-v5 seed 0 step 5000" in result.stderr
    short = tmp_path / "short.csv"
    pd.DataFrame(evaluations("td3", "Hopper-v5", (0,), 10_000, 0.0)).to_csv(short, index=False)
    result = report(str(published), str(short), "--out", str(out), "--algos", "sac", "td3")
    assert result.returncode != 0 and "end at different steps ([10000, 20000]), e.g. td3 Hopper-v5 0 at 10000" in result.stderr
    result = report(str(published), "--out", str(out), "--algos", "td3")
    assert result.returncode != 0 and "no evaluation of algo ['td3']" in result.stderr
