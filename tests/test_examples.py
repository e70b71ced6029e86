"""The README's main job runs end to end (with a tiny budget)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from sb3_qvpo import QVPO

ROOT = Path(__file__).resolve().parents[1]


def test_train_example(tmp_path):
    save_path = tmp_path / "model"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "train.py"),
            "--timesteps",
            "1100",
            "--eval-episodes",
            "1",
            "--save-path",
            str(save_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "Deterministic evaluation over 1 episodes" in result.stdout
    model = QVPO.load(save_path)
    assert model.num_timesteps == 1100 and model._n_updates == 100
    assert model.n_diffusion_steps == 5
    action, _ = model.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,)
