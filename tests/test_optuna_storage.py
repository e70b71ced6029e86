"""
Tuning that outgrows one process: several ``-optimize`` workers share one Optuna study, on a real
PostgreSQL server and on Optuna's journal file; then the best trial is trained.
"""

import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from zoo_helpers import run_zoo, throwaway_postgres, write_tiny_conf, zoo_command, zoo_env

# slow: tens of seconds each (pytest -m "not expensive" skips them)
pytestmark = pytest.mark.expensive

ENV_ID = "Pendulum-v1"
# A trial: 50 random steps, 10 updates, one evaluation episode at the end.
TRIAL_STEPS = "60"


def optimize_args(conf: Path, storage: str, study_name: str, seed: int) -> list[str]:
    return [
        "train", "--env", ENV_ID, "-conf", str(conf), "-f", "logs", "-optimize",
        "--storage", storage, "--study-name", study_name, "--n-trials", "1", "-n", TRIAL_STEPS,
        "--n-evaluations", "1", "--eval-episodes", "1", "--sampler", "random", "--pruner", "none",
        "--no-optim-plots", "--num-threads", "1", "--seed", str(seed), "-uuid",
    ]  # fmt: skip


def run_two_workers(conf: Path, storage: str, study_name: str, cwd: Path) -> None:
    """Start two -optimize workers at the same time on one study; both must succeed."""
    workers = [
        subprocess.Popen(
            zoo_command(*optimize_args(conf, storage, study_name, seed)),
            cwd=cwd,
            env=zoo_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    try:
        outputs = [worker.communicate(timeout=400) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, (stdout, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, f"worker failed ({worker.returncode}):\n{stdout[-3000:]}\n{stderr[-5000:]}"
        assert "Number of finished trials" in stdout


def create_study(storage: str, study_name: str) -> None:
    """
    ``optuna create-study``, as the README does before starting workers: two workers that both
    find an empty PostgreSQL database race to create Optuna's tables, and one fails.
    """
    command = [sys.executable, "-c", "import sys; from optuna.cli import main; sys.exit(main())"]
    subprocess.run(
        [*command, "create-study", "--storage", storage, "--study-name", study_name, "--direction", "maximize"],
        check=True,
        timeout=120,
    )


def check_study(storage: str | optuna.storages.BaseStorage, study_name: str) -> optuna.Study:
    """Both workers' trials are in the one study, each finished with a value."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 2, [trial.state for trial in trials]
    for trial in trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE, trial
        assert trial.value is not None and math.isfinite(trial.value)
        assert {"learning_rate", "n_diffusion_steps", "n_train_candidates", "net_arch"} <= set(trial.params)
    return study


def trained_config(cwd: Path) -> dict:
    config = yaml.unsafe_load((cwd / "trained" / "qvpo" / f"{ENV_ID}_1" / ENV_ID / "config.yml").read_text())
    return dict(config)


def test_postgresql_two_workers_then_best_trial(tmp_path: Path):
    conf = write_tiny_conf(tmp_path / "tiny.yml")
    with throwaway_postgres() as url:
        create_study(url, "qvpo-pendulum")
        run_two_workers(conf, url, "qvpo-pendulum", tmp_path)
        study = check_study(url, "qvpo-pendulum")
        best = study.best_trial

        # Train the best trial's hyperparameters: same storage and study, no -optimize
        result = run_zoo(
            "train", "--env", ENV_ID, "-conf", str(conf), "-f", "trained", "--storage", url, "--study-name", "qvpo-pendulum",
            "-n", TRIAL_STEPS, "--eval-freq", "-1", "--num-threads", "1", cwd=tmp_path,
        )  # fmt: skip
    assert f"trial {best.number} of study 'qvpo-pendulum'" in result.stdout
    config = trained_config(tmp_path)
    assert config["gamma"] == 1 - best.params["one_minus_gamma"]
    assert config["n_diffusion_steps"] == best.params["n_diffusion_steps"]
    # The file's other hyperparameters stay
    assert config["learning_starts"] == 50


def test_postgresql_password_stays_out_of_the_study_and_the_runs(tmp_path: Path, monkeypatch):
    """A password in --storage reaches the server (the trial lands) but no study attribute and no run file."""
    conf = write_tiny_conf(tmp_path / "tiny.yml")
    password = "Qv9-secret-Pw"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with throwaway_postgres(password=password) as url:
        assert password in url
        create_study(url, "qvpo-secret")
        result = run_zoo(*optimize_args(conf, url, "qvpo-secret", seed=1), cwd=tmp_path)
        assert "The password of --storage goes to PostgreSQL through PGPASSWORD" in result.stdout
        study = optuna.load_study(study_name="qvpo-secret", storage=url)
        trials = study.get_trials(deepcopy=False)
        assert [trial.state for trial in trials] == [optuna.trial.TrialState.COMPLETE]
        recorded = [study.user_attrs, *(trial.user_attrs for trial in trials), *(trial.system_attrs for trial in trials)]
        assert "command" in study.user_attrs and "--storage postgresql://postgres@127.0.0.1" in study.user_attrs["command"]
        # a run that trains the best trial writes command.txt and args.yml
        trained = run_zoo(
            "train", "--env", ENV_ID, "-conf", str(conf), "-f", "trained", "--storage", url, "--study-name", "qvpo-secret",
            "-n", TRIAL_STEPS, "--eval-freq", "-1", "--num-threads", "1", cwd=tmp_path,
        )  # fmt: skip
    assert not [attrs for attrs in recorded if password in str(attrs)]
    files = [path for path in tmp_path.rglob("*") if path.is_file() and path.name != "tiny.yml"]
    assert any(path.name == "command.txt" for path in files) and any(path.name == "args.yml" for path in files)
    assert not [path for path in files if password.encode() in path.read_bytes()]
    assert password not in result.stdout + result.stderr + trained.stdout + trained.stderr


def test_journal_two_workers_then_trial_zero(tmp_path: Path):
    conf = write_tiny_conf(tmp_path / "tiny.yml")
    journal = str(tmp_path / "optuna" / "qvpo.log")
    run_two_workers(conf, journal, "qvpo-journal", tmp_path)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    study = check_study(storage, "qvpo-journal")

    # --trial-id 0 (which rl-zoo3 alone would ignore)
    result = run_zoo(
        "train", "--env", ENV_ID, "-conf", str(conf), "-f", "trained", "--storage", journal, "--study-name", "qvpo-journal",
        "--trial-id", "0", "-n", TRIAL_STEPS, "--eval-freq", "-1", "--num-threads", "1", cwd=tmp_path,
    )  # fmt: skip
    assert "trial 0 of study 'qvpo-journal'" in result.stdout
    trial = next(trial for trial in study.trials if trial.number == 0)
    config = trained_config(tmp_path)
    assert config["n_train_candidates"] == trial.params["n_train_candidates"]
    assert config["batch_size"] == trial.params["batch_size"]
