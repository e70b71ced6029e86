"""Each preset has one definition, and importing the package leaves torch's global settings alone."""

import copy
import json
import subprocess
import sys

import pytest
import yaml

from sb3_qvpo.presets import CPU_PRESET, MUJOCO_CPU_PRESET, cpu_preset, mujoco_cpu_preset
from sb3_qvpo.zoo.checks import check_hyperparams_file, parse_policy_kwargs
from sb3_qvpo.zoo.registration import DEFAULT_CONFIG

MUJOCO_CPU_CONFIG = DEFAULT_CONFIG.parent / "qvpo_mujoco_cpu.yml"
ZOO_ENTRIES = [
    (DEFAULT_CONFIG, ("Pendulum-v1", "MountainCarContinuous-v0", "LunarLanderContinuous-v3"), CPU_PRESET),
    (MUJOCO_CPU_CONFIG, ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5"), MUJOCO_CPU_PRESET),
]


@pytest.mark.parametrize(("config_file", "env_ids", "preset"), ZOO_ENTRIES, ids=["cpu", "mujoco-cpu"])
def test_zoo_entries_are_the_preset(config_file, env_ids, preset):
    config = check_hyperparams_file(config_file)
    assert config == yaml.safe_load(config_file.read_text())
    for env_id in env_ids:
        entry = dict(config[env_id])
        entry["policy_kwargs"] = parse_policy_kwargs(entry["policy_kwargs"])
        for key, value in preset.items():
            assert entry[key] == value, (config_file.name, env_id, key)


@pytest.mark.parametrize(("make_copy", "preset"), [(cpu_preset, CPU_PRESET), (mujoco_cpu_preset, MUJOCO_CPU_PRESET)])
def test_preset_copies_are_independent(make_copy, preset):
    copied, before = make_copy(), copy.deepcopy(preset)
    assert copied == preset
    net_arch = copied["policy_kwargs"]["net_arch"]
    for layers in net_arch.values() if isinstance(net_arch, dict) else [net_arch]:
        layers.append(8)
    copied["batch_size"] = 1
    assert preset == before


TORCH_GLOBALS = """
import json, sys
import torch as th

def torch_globals():
    return dict(
        threads=th.get_num_threads(),
        interop=th.get_num_interop_threads(),
        dtype=str(th.get_default_dtype()),
        deterministic=th.are_deterministic_algorithms_enabled(),
        matmul_precision=th.get_float32_matmul_precision(),
        grad=th.is_grad_enabled(),
    )

before = torch_globals()
import sb3_qvpo, sb3_qvpo.policies, sb3_qvpo.qvpo, sb3_qvpo.presets, sb3_qvpo.envs, sb3_qvpo.zoo.registration
print(json.dumps([before, torch_globals()]))
"""


def test_import_does_not_change_torch_globals():
    result = subprocess.run([sys.executable, "-c", TORCH_GLOBALS], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout.strip().splitlines()[-1])
    assert before == after
