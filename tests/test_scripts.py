"""The README's main job and the benchmark scripts run end to end (with tiny budgets)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th

from sb3_qvpo import QVPO
from sb3_qvpo.presets import CPU_PRESET

# slow: tens of seconds each (pytest -m "not expensive" skips them)
pytestmark = pytest.mark.expensive

ROOT = Path(__file__).resolve().parents[1]


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``script`` (a path from the repository root) as the docs do (``PYTHONPATH=.``), one thread."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )


def test_train_example(tmp_path):
    """The README's main job: the CPU preset, the model saved in the working directory, the evaluation last."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train.py"), "--timesteps", "1100", "--eval-episodes", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    last_line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"Deterministic evaluation over 2 episodes: -?\d+\.\d \+/- \d+\.\d", last_line), last_line
    model = QVPO.load(tmp_path / "qvpo_Pendulum-v1.zip")
    assert model.num_timesteps == 1100 and model._n_updates == 1100 - CPU_PRESET["learning_starts"]
    assert model.n_diffusion_steps == CPU_PRESET["n_diffusion_steps"]
    assert model.n_train_candidates == CPU_PRESET["n_train_candidates"]
    assert model.policy.net_arch == CPU_PRESET["policy_kwargs"]["net_arch"]
    action, _ = model.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,)


def test_train_example_refuses_bad_numbers(tmp_path):
    result = run_script("examples/train.py", "--threads", "0")
    assert result.returncode != 0 and "must be positive" in result.stderr


def test_speed_benchmark_prints_its_table_and_floors():
    result = run_script(
        "benchmarks/speed.py",
        *("--envs", "Pendulum-v1", "--repeats", "1", "--act-repeats", "3", "--threads", "1", "--sampling-steps", "5"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("CPU: ") == 1 and "vector flags:" in result.stdout
    for kernel in ("mm", "mm, transposed view", "addmm", "matmul", "oneDNN packed"):
        assert f"| {kernel} |" in result.stdout
    assert "peak fp32: " in result.stdout and "peak bf16: " in result.stdout
    assert "the sampler's kernel rule picks, at this shape: fp32 " in result.stdout
    for row in (
        *("| reference fp32 |", "| fast fp32 (default) |", "| fast bf16 |"),
        *("| fast fp32, DDIM S = 5 |", "| SB3 SAC (for scale) |"),
    ):
        assert row in result.stdout
    floors = [line for line in result.stdout.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in floors] == ["- update, fp32", "- update, bf16", "- behaviour action (eager)"]
    assert all("ms" in line for line in floors)


def test_multimodal_example_draws_its_picture_and_prints_the_variants_table(tmp_path):
    picture = tmp_path / "multimodal.png"
    result = run_script("benchmarks/multimodal.py", "--timesteps", "1050", "--samples", "200", "--out", str(picture))
    assert result.returncode == 0, result.stderr
    assert picture.stat().st_size > 0
    for name in ("QVPO, multimodal settings", "QVPO, clipped advantage, best only", "SAC (Gaussian policy)"):
        assert f"{name}: share of samples near each optimum" in result.stdout

    result = run_script(
        "benchmarks/multimodal.py", "--variants", "multimodal", "best-only", "--timesteps", "1050", "--seeds", "0", "1",
        "--samples", "200", "--jobs", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 4  # header, two variants x two seeds
    assert rows[1].startswith("| multimodal settings | 0 | 1050 |") and rows[4].startswith("| best candidate only | 1 |")
    assert "multimodal: optima kept per seed [" in result.stdout


def test_threads_benchmark_prints_its_table():
    result = run_script("benchmarks/threads.py", "--settings", "cpu", "--threads", "1", "--load", "idle", "--chunks", "1")
    assert result.returncode == 0, result.stderr
    assert "CPU: " in result.stdout and "family" in result.stdout
    row = [line for line in result.stdout.splitlines() if line.startswith("| cpu | Pendulum-v1 | idle |")]
    assert len(row) == 1 and float(row[0].split("|")[4]) > 0


def test_preset_sweep_writes_its_table(tmp_path):
    out = tmp_path / "sweep"
    args = ["--variants", "2x64-T5-N16", "--seeds", "0", "--timesteps", "1050", "--n-evals", "1", "--eval-episodes", "1"]
    result = run_script("benchmarks/preset_sweep.py", *args, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    table = (out / "table.md").read_text()
    for env_id in ("Pendulum-v1", "InvertedPendulum-v5"):
        assert f"| {env_id} | qvpo-2x64-T5-N16 | 1 | 1050 |" in table


def test_fidelity_script_pauses_resumes_and_skips_finished_runs(tmp_path):
    """This package's side of benchmarks/fidelity.py (no clone of the authors' code needed): a run paused by
    --stop-at continues from its checkpoint, the same way in two processes; a finished run is not trained again."""
    args = [
        "--impls", "sb3_qvpo", "--envs", "Pendulum-v1=500", "--seeds", "0", "--n-diffusion-steps", "2",
        "--n-train-candidates", "4", "--n-eval-candidates", "4", "--width", "16", "--batch-size", "32",
        "--learning-starts", "200", "--eval-freq", "100", "--eval-episodes", "1", "--checkpoint-freq", "200",
    ]  # fmt: skip
    first, second = tmp_path / "first", tmp_path / "second"
    result = run_script("benchmarks/fidelity.py", *args, "--stop-at", "300", "--out", str(first))
    assert result.returncode == 0, result.stderr
    assert "Paused at step 300" in result.stdout and "forward equivalence" not in result.stdout
    run_dir = Path("runs") / "sb3_qvpo__Pendulum-v1__0"
    assert json.loads((first / run_dir / "checkpoint.json").read_text())["step"] == 300
    assert [row.split(",")[3] for row in (first / "evals.csv").read_text().splitlines()[1:]] == ["100", "200", "300"]
    shutil.copytree(first, second)

    results = [run_script("benchmarks/fidelity.py", *args, "--out", str(out)) for out in (first, second)]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "resuming from the checkpoint at step 300" in result.stdout
    evals = [(out / "evals.csv").read_text() for out in (first, second)]
    assert evals[0] == evals[1]
    assert [row.split(",")[3] for row in evals[0].splitlines()[1:]] == ["100", "200", "300", "400", "500"]
    done = json.loads((first / run_dir / "done.json").read_text())
    assert done["resumed_from"] == [300] and not (first / run_dir / "checkpoint.json").exists()
    assert not list((first / run_dir).glob("checkpoint_*"))

    again = run_script("benchmarks/fidelity.py", *args, "--out", str(first))
    assert again.returncode == 0 and "step" not in again.stdout.split("Settings:")[0]  # nothing trained
    assert (first / "evals.csv").read_text() == evals[0] and "| Pendulum-v1 | 0 | sb3_qvpo | 500 |" in again.stdout

    changed = run_script("benchmarks/fidelity.py", *args[:-2], "--checkpoint-freq", "100", "--width", "8", "--out", str(first))
    assert changed.returncode != 0 and "other settings (width)" in changed.stderr
    changed = run_script("benchmarks/fidelity.py", *args, "--qf-arch", "24", "24", "--out", str(first))
    assert changed.returncode != 0 and "other settings (qf_arch)" in changed.stderr
    assert "--qf-arch: every layer" in run_script("benchmarks/fidelity.py", *args, "--qf-arch", "0").stderr

    wide_args = ("--qf-arch", "24", "24", "--stop-at", "200", "--out", str(tmp_path / "qf"))
    wide = run_script("benchmarks/fidelity.py", *args, *wide_args)
    assert wide.returncode == 0, wide.stderr
    model = QVPO.load(tmp_path / "qf" / run_dir / "checkpoint_200.zip", device="cpu")
    for q_network in model.policy.critic.q_networks:
        assert [layer.out_features for layer in q_network if isinstance(layer, th.nn.Linear)] == [24, 24, 1]
    assert [layer.out_features for layer in model.policy.actor.noise_net.hidden] == [16, 16, 16]
    assert "--authors-code is needed" in run_script("benchmarks/fidelity.py", "--impls", "authors").stderr


def test_preset_cost_prints_every_model_beside_sac():
    result = run_script(
        "benchmarks/preset_cost.py",
        *("--sweep", "cpu", "--variants", "2x64-T5-N16", "--env", "Pendulum-v1"),
        *("--steps", "3", "--rounds", "2", "--warmup", "300"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Pendulum-v1, median of 2 x 3 steps" in lines[0] and "family" in lines[0]
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines if line.startswith("| ") and "---" not in line}
    assert list(rows) == ["variant", "sac", "td3", "2x64-T5-N16"]
    assert rows["sac"].endswith("| 1.00 |")
    assert float(rows["2x64-T5-N16"].split(" | ")[1]) > 0


def test_preset_cost_refuses_an_unknown_variant():
    result = run_script("benchmarks/preset_cost.py", "--sweep", "cpu", "--variants", "3x999")
    assert result.returncode != 0 and "unknown variant(s) ['3x999']" in result.stderr
