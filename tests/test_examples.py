"""The README's main job runs end to end (with a tiny budget)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from sb3_qvpo import QVPO

ROOT = Path(__file__).resolve().parents[1]


def run_example(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``examples/<script>`` as the README does (``PYTHONPATH=.``), one thread."""
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )


def test_train_example(tmp_path):
    save_path = tmp_path / "model"
    result = run_example("train.py", "--timesteps", "1100", "--eval-episodes", "1", "--save-path", str(save_path))
    assert result.returncode == 0, result.stderr
    assert "Deterministic evaluation over 1 episodes" in result.stdout
    model = QVPO.load(save_path)
    assert model.num_timesteps == 1100 and model._n_updates == 100
    assert model.n_diffusion_steps == 5
    action, _ = model.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,)


def test_speed_benchmark_prints_its_table_and_floors():
    result = run_example(
        "benchmark_speed.py", "--envs", "Pendulum-v1", "--repeats", "1", "--act-repeats", "3", "--threads", "1"
    )
    assert result.returncode == 0, result.stderr
    for row in ("| reference fp32 |", "| fast fp32 (default) |", "| fast bf16 |", "| SB3 SAC (for scale) |"):
        assert row in result.stdout
    floors = [line for line in result.stdout.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in floors] == ["- update, fp32", "- update, bf16", "- behaviour action (eager)"]
    assert all("ms" in line for line in floors)


def test_multimodal_example_draws_its_picture_and_prints_the_variants_table(tmp_path):
    picture = tmp_path / "multimodal.png"
    result = run_example("multimodal.py", "--timesteps", "1050", "--samples", "200", "--out", str(picture))
    assert result.returncode == 0, result.stderr
    assert picture.stat().st_size > 0
    for name in ("QVPO, multimodal settings", "QVPO, clipped advantage, best only", "SAC (Gaussian policy)"):
        assert f"{name}: share of samples near each optimum" in result.stdout

    result = run_example(
        "multimodal.py", "--variants", "multimodal", "best-only", "--timesteps", "1050", "--seeds", "0", "1",
        "--samples", "200", "--jobs", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 4  # header, two variants x two seeds
    assert rows[1].startswith("| multimodal settings | 0 | 1050 |") and rows[4].startswith("| best candidate only | 1 |")
    assert "multimodal: optima kept per seed [" in result.stdout
