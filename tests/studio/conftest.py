"""Session fixtures for the studio tests: tiny exported models, built once."""

import dataclasses

import pytest


@pytest.fixture(scope="session")
def sketch_export(tmp_path_factory):
    """A 1-step Sketch RNN (testing config) exported to a SavedModel folder."""
    from sketch_rnn import configs
    from sketch_rnn import train

    workdir = tmp_path_factory.mktemp("studio_sketch_rnn")
    train.train_and_evaluate(dataclasses.replace(configs.SketchRNNConfig.testing(), num_steps=1),
                             workdir)
    return workdir / "export"


@pytest.fixture(scope="session")
def style_export(tmp_path_factory):
    """A 1-step WAE (testing config) exported to a SavedModel folder."""
    from wae_style import configs as wae_configs
    from wae_style import train

    workdir = tmp_path_factory.mktemp("studio_wae")
    train.train_and_evaluate(dataclasses.replace(wae_configs.WAEConfig.testing(), num_steps=1), workdir)
    return workdir / "export"


@pytest.fixture(scope="session")
def studio_models(sketch_export, style_export):
    """The two exports loaded once through their clients."""
    from sketch_rnn.client import SketchModel
    from wae_style.client import StyleModel

    return SketchModel(sketch_export), StyleModel(style_export)
