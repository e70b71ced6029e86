import os

from setuptools import find_packages, setup

with open(os.path.join("sb3_qvpo", "version.py")) as file_handler:
    __version__ = file_handler.read().split('"')[1]

with open("README.md", encoding="utf-8") as file_handler:
    long_description = file_handler.read()

setup(
    name="sb3_qvpo",
    packages=[package for package in find_packages() if package.startswith("sb3_qvpo")],
    package_data={"sb3_qvpo": ["py.typed"]},
    install_requires=[
        "stable_baselines3>=2.9.2,<3.0",
        # torch 2.13 satisfies this range; install it first (pip install torch==2.13.0) to get the CPU build
        "torch>=2.3,<2.14",
        "gymnasium>=1.0",
        "numpy",
    ],
    extras_require={
        "mujoco": ["gymnasium[mujoco]>=1.0"],
        "tests": [
            "pytest",
            "pytest-xdist",
            "ruff",
            "mypy",
            "tqdm",
            "rich",
            "tensorboard",
            "pandas",
        ],
    },
    description="QVPO (diffusion-policy online RL, NeurIPS 2024) for Stable-Baselines3",
    long_description=long_description,
    long_description_content_type="text/markdown",
    author="sb3-qvpo developers",
    license="MIT",
    keywords="reinforcement-learning diffusion-policy stable-baselines3 qvpo mujoco gymnasium",
    python_requires=">=3.10",
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
    ],
    version=__version__,
)
