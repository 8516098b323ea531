"""A local pyannote pipeline is not trusted unless the user opts in (issue 10, item 10): no class
outside pyannote's (and echonote's) pipelines and models, anywhere in the config or in a
checkpoint, and checkpoints loaded as tensors and plain data only."""
from __future__ import annotations

import os
import shutil

import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("pyannote.audio")

from echonote.worker.backends.pyannote_pipeline import (  # noqa: E402
    PipelineLoadError,
    load_pipeline,
    write_offline_pipeline_dir,
)


class Tripwire:
    """Unpickling this runs a shell command that creates ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def written_pipeline(tmp_path_factory):
    return write_offline_pipeline_dir(tmp_path_factory.mktemp("pipeline") / "offline")


@pytest.fixture
def pipeline_dir(written_pipeline, tmp_path):
    """A fresh copy of a genuine pipeline folder, for one test to tamper with."""
    return shutil.copytree(written_pipeline, tmp_path / "pipeline")


def edit_config(folder, change) -> None:
    config = yaml.safe_load((folder / "config.yaml").read_text())
    change(config)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))


def test_the_genuine_pipeline_folder_loads_without_trust(written_pipeline):
    pipeline = load_pipeline(written_pipeline)
    assert type(pipeline).__name__ == "SpeakerDiarization"
    assert type(pipeline._segmentation.model).__name__ == "PyanNet"
    assert type(pipeline._embedding.model_).__name__ == "CAMPPlusEmbedding"


def test_a_preprocessor_naming_any_callable_is_refused(pipeline_dir, tmp_path):
    """Only ``pipeline.name`` was checked: ``preprocessors: {audio: {name: subprocess.run}}`` ran a command."""
    tripwire = tmp_path / "preprocessor-ran"
    edit_config(pipeline_dir, lambda c: c.update(
        preprocessors={"audio": {"name": "subprocess.run", "params": {"args": ["touch", str(tripwire)]}}}))
    with pytest.raises(PipelineLoadError,
                       match=r"preprocessors\.audio\.name names 'subprocess\.run'.*trust_config=True"):
        load_pipeline(pipeline_dir)
    assert not tripwire.exists()


def test_a_checkpoint_that_pickles_code_is_refused(pipeline_dir, tmp_path):
    """pyannote loads checkpoints with ``weights_only=False``: a replaced pytorch_model.bin ran os.system."""
    tripwire = tmp_path / "checkpoint-ran"
    torch.save({"pyannote.audio": {"payload": Tripwire(tripwire)}}, pipeline_dir / "segmentation" / "pytorch_model.bin")
    with pytest.raises(PipelineLoadError, match=r"segmentation/pytorch_model\.bin is not a plain pyannote checkpoint"
                                                r".*system.*trust_config=True"):
        load_pipeline(pipeline_dir)
    assert not tripwire.exists()


def test_a_checkpoint_naming_a_foreign_class_is_refused(pipeline_dir):
    checkpoint = pipeline_dir / "embedding" / "pytorch_model.bin"
    data = torch.load(checkpoint, weights_only=False)  # our own file, written by the fixture
    data["pyannote.audio"]["architecture"] = {"module": "subprocess", "class": "Popen"}
    torch.save(data, checkpoint)
    with pytest.raises(PipelineLoadError, match=r"names 'subprocess\.Popen', which is not one of pyannote's own"):
        load_pipeline(pipeline_dir)


@pytest.mark.parametrize("where,value,message", [
    ("pipeline.name", "pyannote.audio.pipelines.utils.getter.get_model", "not a pyannote Pipeline class"),
    ("pipeline.params.segmentation", "someone/segmentation", "would load 'someone/segmentation' from the model hub"),
])
def test_functions_and_foreign_hub_models_are_refused(pipeline_dir, where, value, message):
    def change(config):
        *path, last = where.split(".")
        node = config
        for key in path:
            node = node[key]
        node[last] = value

    edit_config(pipeline_dir, change)
    with pytest.raises(PipelineLoadError, match=message):
        load_pipeline(pipeline_dir)
