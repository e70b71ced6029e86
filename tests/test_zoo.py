"""rl-zoo3 integration: the CLI wrapper, the shipped hyperparameters, bad input, the Optuna sampler."""

import filecmp
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import optuna
import pytest
import yaml
from zoo_helpers import REPO_ROOT, run_zoo, write_tiny_conf, zoo_env

from sb3_qvpo import QVPO
from sb3_qvpo.presets import MUJOCO_CPU_PRESET
from sb3_qvpo.zoo import DEFAULT_CONFIG, convert_qvpo_params, register_qvpo, sample_qvpo_params
from sb3_qvpo.zoo.__main__ import main, prepare_arguments
from sb3_qvpo.zoo.checks import check_hyperparams_file, parse_policy_kwargs

ENV_ID = "Pendulum-v1"


# --- train, continue, enjoy, record, plot through the wrapper -------------------------------


@pytest.mark.expensive
def test_train_continue_enjoy_record_plot(tmp_path: Path):
    conf = write_tiny_conf(tmp_path / "tiny.yml")
    common = ["--env", ENV_ID, "-conf", str(conf), "-f", "logs", "--num-threads", "1", "--seed", "0"]
    run_zoo(
        "train", *common, "--eval-freq", "150", "--eval-episodes", "2", "--save-freq", "150", "-tb", "tb",
        "-params", "n_sampling_steps:2", "--save-replay-buffer", cwd=tmp_path,
    )  # fmt: skip
    run_dir = tmp_path / "logs" / "qvpo" / f"{ENV_ID}_1"
    for name in (f"{ENV_ID}.zip", "best_model.zip", "evaluations.npz", "rl_model_150_steps.zip", "rl_model_300_steps.zip"):
        assert (run_dir / name).is_file(), name
    assert list((tmp_path / "tb" / ENV_ID).glob("QVPO_1/events.out.tfevents.*"))
    model = QVPO.load(run_dir / f"{ENV_ID}.zip")
    assert model.num_timesteps == 300
    assert model.n_diffusion_steps == 3 and model.policy.net_arch == [16]
    assert model.n_sampling_steps == 2  # an acting setting at the top level reached the new policy

    # Continue training the saved agent
    result = run_zoo(
        "train", *common, "--eval-freq", "-1", "-n", "100", "-i", str(run_dir / f"{ENV_ID}.zip"),
        "-params", "n_eval_candidates:7", "n_sampling_steps:3", cwd=tmp_path,
    )  # fmt: skip
    assert "Loading pretrained agent" in result.stdout and "Loading replay buffer" in result.stdout
    assert "Replay buffer of 300 transitions loaded: no random warm-up (learning_starts=0)" in result.stdout
    continued = QVPO.load(tmp_path / "logs" / "qvpo" / f"{ENV_ID}_2" / f"{ENV_ID}.zip")
    assert continued._n_updates - model._n_updates == 100  # an update at every one of the 100 steps
    assert continued.policy.n_eval_candidates == 7  # the file's other settings reached the loaded policy too
    assert continued.n_sampling_steps == 3
    # rl-zoo3 restarts the step counter; the update counter goes on from the loaded agent
    assert continued.num_timesteps == 100
    assert continued._n_updates > model._n_updates

    # Watch the best model of the first run
    result = run_zoo(
        "enjoy", "--env", ENV_ID, "-f", "logs", "--exp-id", "1", "--load-best", "--no-render", "-n", "210",
        "-params", "n_sampling_steps:1", "sampling_dtype:bfloat16", cwd=tmp_path,
    )  # fmt: skip
    assert "best_model.zip" in result.stdout and "Episode Reward" in result.stdout
    assert "n_sampling_steps=1, sampling_eta=1.0, sampling_dtype='bfloat16'" in result.stdout

    run_zoo("record_video", "--env", ENV_ID, "-f", "logs", "--exp-id", "1", "-n", "30", cwd=tmp_path)
    assert list((run_dir / "videos").glob("*.mp4"))

    # (rl-zoo3's all_plots fails on a single run evaluated with a single episode, hence 2 above)
    run_zoo("plot_train", "-a", "qvpo", "-e", ENV_ID, "-f", "logs", "-w", "1", cwd=tmp_path)
    run_zoo("all_plots", "-a", "qvpo", "-e", ENV_ID, "-f", "logs", "--no-display", "-o", "results", cwd=tmp_path)
    assert (tmp_path / "results.pkl").is_file()


@pytest.mark.expensive
def test_report_writes_png_curves_and_an_iqm_table_headless(tmp_path: Path):
    """QVPO and SAC runs of rl-zoo3 in one logs folder; report draws them without a display."""
    conf = write_tiny_conf(tmp_path / "tiny.yml")
    evals = ["--eval-freq", "100", "--eval-episodes", "2", "--num-threads", "1", "-f", "logs", "-n", "300"]
    for seed in ("0", "1"):
        run_zoo("train", "--env", ENV_ID, "-conf", str(conf), "--seed", seed, *evals, cwd=tmp_path)
    run_zoo("train", "--algo", "sac", "--env", ENV_ID, "--seed", "0", *evals, "-params", "learning_starts:50", cwd=tmp_path)
    env = {key: value for key, value in zoo_env().items() if key not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-m", "sb3_qvpo.zoo", "report", "-a", "qvpo", "sac", "-e", ENV_ID, "-f", "logs", "-o", "report"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    png = tmp_path / "report" / f"curves_{ENV_ID}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    table = (tmp_path / "report" / "table.md").read_text()
    assert f"| {ENV_ID} | QVPO-logs | 2 | 300 |" in table and f"| {ENV_ID} | SAC-logs | 1 | 300 |" in table


@pytest.mark.expensive
def test_short_run_evaluates_without_eval_freq(tmp_path: Path):
    """rl-zoo3's --eval-freq default (25,000) exceeds a short run: it still evaluates, so --load-best works."""
    conf = write_tiny_conf(tmp_path / "tiny.yml", n_timesteps=300)
    result = run_zoo("train", "--env", ENV_ID, "-conf", str(conf), "-f", "logs", "--num-threads", "1", cwd=tmp_path)
    assert "--eval-freq 25000 exceeds the run's 300 steps: evaluating every 30 steps instead" in result.stdout
    run_dir = tmp_path / "logs" / "qvpo" / f"{ENV_ID}_1"
    assert list(np.load(run_dir / "evaluations.npz")["timesteps"]) == list(range(30, 301, 30))
    result = run_zoo("enjoy", "--env", ENV_ID, "-f", "logs", "--load-best", "--no-render", "-n", "210", cwd=tmp_path)
    assert "best_model.zip" in result.stdout and "Episode Reward" in result.stdout


@pytest.mark.expensive
def test_n_envs_subproc(tmp_path: Path):
    conf = write_tiny_conf(tmp_path / "tiny.yml", n_timesteps=200)
    run_zoo(
        "train", "--env", ENV_ID, "-conf", str(conf), "-f", "logs", "--num-threads", "1", "--eval-freq", "-1",
        "--n-envs", "2", "--vec-env", "subproc", cwd=tmp_path,
    )  # fmt: skip
    config = yaml.unsafe_load((tmp_path / "logs" / "qvpo" / f"{ENV_ID}_1" / ENV_ID / "config.yml").read_text())
    assert dict(config)["n_envs"] == 2
    assert QVPO.load(tmp_path / "logs" / "qvpo" / f"{ENV_ID}_1" / f"{ENV_ID}.zip").n_envs == 2


@pytest.mark.expensive
def test_shipped_config_by_name_outside_a_checkout(tmp_path: Path):
    """From a folder that holds no hyperparams/, -conf qvpo_mujoco_cpu trains with the packaged file."""
    result = run_zoo(
        "train", "--env", "Hopper-v5", "-conf", "qvpo_mujoco_cpu", "-n", "200", "-f", "logs", "--num-threads", "1",
        "--eval-freq", "-1", "-params", "buffer_size:1000", cwd=tmp_path,
    )  # fmt: skip
    assert not (tmp_path / "hyperparams").exists()
    config = yaml.unsafe_load((tmp_path / "logs" / "qvpo" / "Hopper-v5_1" / "Hopper-v5" / "config.yml").read_text())
    assert dict(config)["n_train_candidates"] == MUJOCO_CPU_PRESET["n_train_candidates"]
    assert "qvpo_mujoco_cpu.yml" in result.stdout + result.stderr


def test_prepare_arguments():
    assert prepare_arguments("train", ["--env", ENV_ID]) == ["--algo", "qvpo", "--env", ENV_ID, "-conf", str(DEFAULT_CONFIG)]
    # An explicit config, or another algorithm, is left alone
    assert prepare_arguments("train", ["--env", ENV_ID, "-conf", "my.yml"])[-2:] == ["-conf", "my.yml"]
    assert prepare_arguments("train", ["--algo", "sac", "--env", ENV_ID]) == ["--algo", "sac", "--env", ENV_ID]
    # --n-envs becomes a hyperparameter, merged into an existing -params
    assert prepare_arguments("train", ["--n-envs", "4", "-conf", "c.yml"]) == [
        "--algo", "qvpo", "-conf", "c.yml", "-params", "n_envs:4",
    ]  # fmt: skip
    assert prepare_arguments("train", ["-params", "gamma:0.9", "--n-envs=2", "-conf", "c.yml"]) == [
        "--algo", "qvpo", "-params", "n_envs:2", "gamma:0.9", "-conf", "c.yml",
    ]  # fmt: skip
    assert prepare_arguments("enjoy", ["--env", ENV_ID]) == ["--algo", "qvpo", "--env", ENV_ID]
    # a shipped file by its name, from any working directory
    shipped = str(DEFAULT_CONFIG.parent / "qvpo_mujoco_cpu.yml")
    assert prepare_arguments("train", ["-conf", "qvpo_mujoco_cpu"])[-2:] == ["-conf", shipped]
    assert prepare_arguments("train", ["--conf-file=qvpo_mujoco_cpu"])[-1] == f"--conf-file={shipped}"
    with pytest.raises(SystemExit, match="-conf 'qvpo_mujoco' is neither a file nor a shipped configuration"):
        prepare_arguments("train", ["-conf", "qvpo_mujoco"])
    assert prepare_arguments("plot_train", ["-a", "qvpo"]) == ["-a", "qvpo"]


def test_acting_settings_on_the_command_line():
    from sb3_qvpo.zoo.__main__ import pop_acting_settings
    from sb3_qvpo.zoo.checks import place_acting_settings

    rest, acting = pop_acting_settings(["--env", "X", "-params", "n_sampling_steps:5", "sampling_eta:0.5", "-n", "9"])
    assert rest == ["--env", "X", "-n", "9"] and acting == {"n_sampling_steps": 5, "sampling_eta": 0.5}
    with pytest.raises(SystemExit, match=r"'learning_rate:0\.1'"):
        pop_acting_settings(["-params", "learning_rate:0.1"])
    hyperparams = {"n_eval_candidates": 8, "sampling_dtype": "bfloat16", "policy_kwargs": "dict(net_arch=[16])"}
    new = place_acting_settings(hyperparams, continuing=False)
    assert new == {"n_eval_candidates": 8, "policy_kwargs": {"net_arch": [16], "sampling_dtype": "bfloat16"}}
    assert place_acting_settings(hyperparams, continuing=True) == hyperparams
    with pytest.raises(ValueError, match=r"\['sampling_dtype'\] set both"):
        place_acting_settings({"sampling_dtype": "float32", "policy_kwargs": {"sampling_dtype": "bfloat16"}}, continuing=False)


def test_unknown_command():
    with pytest.raises(SystemExit, match="Unknown command 'trian'"):
        main(["trian"])


# --- the shipped hyperparameters ------------------------------------------------------------


def test_shipped_hyperparams_are_valid():
    config = check_hyperparams_file(DEFAULT_CONFIG)
    mujoco = ["HalfCheetah", "Hopper", "Walker2d", "Ant", "Humanoid", "Swimmer", "InvertedPendulum", "InvertedDoublePendulum"]
    for name in [*mujoco, "Reacher"]:
        entry = config[f"{name}-v5"]
        assert entry["n_timesteps"] == 1_000_000 and entry["n_diffusion_steps"] == 20 and entry["n_train_candidates"] == 64
    for env_id in ("Pendulum-v1", "MountainCarContinuous-v0"):
        assert config[env_id]["n_timesteps"] <= 50_000
    for env_id in config:
        assert env_id in gym.envs.registry, env_id


@pytest.mark.parametrize("name", ["qvpo.yml", "qvpo_mujoco_cpu.yml"])
def test_top_level_hyperparams_are_the_packaged_ones(name: str):
    top_level, packaged = REPO_ROOT / "hyperparams" / name, DEFAULT_CONFIG.parent / name
    assert top_level.resolve() == packaged.resolve() or filecmp.cmp(top_level, packaged, shallow=False)


@pytest.mark.parametrize(
    ("name", "env_id"), [("qvpo.yml", "Pendulum-v1"), ("qvpo.yml", "Hopper-v5"), ("qvpo_mujoco_cpu.yml", "HalfCheetah-v5")]
)
def test_shipped_entry_builds_a_model(name: str, env_id: str):
    """Every key of an entry is accepted by QVPO (the same path rl-zoo3 takes, without training)."""
    register_qvpo()
    entry = dict(yaml.safe_load((DEFAULT_CONFIG.parent / name).read_text())[env_id])
    zoo_only = {"n_timesteps", "n_envs", "normalize"}
    kwargs = {key: value for key, value in entry.items() if key not in zoo_only}
    kwargs["policy_kwargs"] = parse_policy_kwargs(kwargs.get("policy_kwargs"))
    kwargs["buffer_size"] = 1000
    model = QVPO(env=env_id, **kwargs)
    action, _ = model.predict(model.observation_space.sample(), deterministic=True)
    assert np.all(np.abs(action) <= model.action_space.high)


# --- bad input -------------------------------------------------------------------------------


def _train_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conf: Path, env_id: str = ENV_ID) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    main(["train", "--env", env_id, "-conf", str(conf), "-f", str(tmp_path / "logs"), "--eval-freq", "-1", "-n", "10"])


def test_unknown_env_id_in_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    conf = tmp_path / "bad.yml"
    conf.write_text(yaml.safe_dump({"Pendulum-v1": {"n_timesteps": 10, "policy": "MlpPolicy"}, "HalfCheeta-v5": {}}))
    with pytest.raises(ValueError, match=r"unknown env id 'HalfCheeta-v5'.*did you mean 'HalfCheetah-v5'"):
        _train_in_process(monkeypatch, tmp_path, conf)


def test_unknown_hyperparameter_in_yaml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    conf = write_tiny_conf(tmp_path / "bad.yml", n_diffusion_step=3)
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'n_diffusion_step'.*did you mean 'n_diffusion_steps'"):
        _train_in_process(monkeypatch, tmp_path, conf)
    conf = write_tiny_conf(tmp_path / "bad.yml", seed=3)
    with pytest.raises(ValueError, match="'seed' cannot be set in the file"):
        _train_in_process(monkeypatch, tmp_path, conf)


def test_unknown_hyperparameter_on_command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    conf = write_tiny_conf(tmp_path / "tiny.yml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(ValueError, match="unknown hyperparameter 'n_candidates'"):
        main(["train", "--env", ENV_ID, "-conf", str(conf), "-f", "logs", "-params", "n_candidates:8"])


def test_unknown_env_id_on_command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    conf = write_tiny_conf(tmp_path / "tiny.yml")
    with pytest.raises(ValueError, match="Pendulum-v9 not found in gym registry"):
        _train_in_process(monkeypatch, tmp_path, conf, env_id="Pendulum-v9")


# --- the Optuna sampler and converter --------------------------------------------------------


def test_sampler_and_converter_agree():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    for _ in range(20):
        trial = study.ask()
        sampled = sample_qvpo_params(trial, n_actions=1, n_envs=1, additional_args={})
        assert convert_qvpo_params(trial.params) == sampled
        assert sampled["n_kept_candidates"] <= sampled["n_train_candidates"]
        assert not {"n_diffusion_steps", "n_behavior_candidates", "n_eval_candidates"} & set(sampled["policy_kwargs"])
        model = QVPO(env="Pendulum-v1", policy="MlpPolicy", buffer_size=10, **sampled)
        assert model.gamma == pytest.approx(1 - trial.params["one_minus_gamma"])
        assert model.ent_coef_min == pytest.approx(0.1 * sampled["ent_coef"])
        study.tell(trial, 0.0)


def test_sampled_policy_kwargs_keep_the_files_other_keys():
    from torch import nn

    from sb3_qvpo.zoo.registration import _sample_with_base_policy_kwargs

    trial = optuna.create_study().ask()
    base = {"net_arch": [16], "activation_fn": nn.ReLU, "optimizer_kwargs": {"eps": 1e-6}}
    sampled = _sample_with_base_policy_kwargs(trial, 1, 1, {}, base_policy_kwargs=base)
    assert sampled["policy_kwargs"]["activation_fn"] is nn.ReLU
    assert sampled["policy_kwargs"]["optimizer_kwargs"] == {"eps": 1e-6}
    assert sampled["policy_kwargs"]["net_arch"] != [16]
    assert base["net_arch"] == [16]


def test_policy_kwargs_strings_are_read_without_evaluating_code():
    from torch import nn

    parsed = parse_policy_kwargs(
        "dict(net_arch=dict(pi=[64], qf=[32, 32]), activation_fn=nn.ReLU, optimizer_kwargs=dict(eps=1e-5))"
    )
    assert parsed == {"net_arch": {"pi": [64], "qf": [32, 32]}, "activation_fn": nn.ReLU, "optimizer_kwargs": {"eps": 1e-5}}
    assert parse_policy_kwargs({"net_arch": [8]}) == {"net_arch": [8]} and parse_policy_kwargs(None) == {}
    with pytest.raises(ValueError, match="__import__"):
        parse_policy_kwargs("dict(net_arch=__import__('os').getcwd())")
    with pytest.raises(ValueError, match="must describe a dict"):
        parse_policy_kwargs("[64, 64]")
