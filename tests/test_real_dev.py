"""The offline backend on real recordings with human references, through `echonote benchmark`.

The recordings are not part of the repository (their licences ask for attribution, one is
non-commercial): they are read from ``../shared/data/real-dev`` next to the checkout, or from
``ECHONOTE_REAL_DEV``. Without them these tests skip and say so. Each bound is a few points
above what the defaults reach (docs/diarization.md), so a regression fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_DEV = Path(os.environ.get("ECHONOTE_REAL_DEV", ROOT.parent / "shared" / "data" / "real-dev"))

# file -> (highest DER at collar 0 we accept, speakers in the reference)
BOUNDS = {
    "ami_es2004a_750_810": (0.14, 4),
    "childes_macwhinney_010411a_clip": (0.71, 2),
    "pyaa_diarization_example": (0.06, 4),
    "voxconverse_aepyx": (0.19, 4),
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REAL_DEV.is_dir(), reason=f"no real-dev recordings at {REAL_DEV} "
                                                     "(set ECHONOTE_REAL_DEV to a folder of NAME.wav + NAME.rttm)"),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("real-dev") / "report.json"
    done = subprocess.run([sys.executable, "-m", "echonote", "benchmark", str(REAL_DEV), "--json", str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mean" in done.stdout and "total" in done.stdout, done.stdout
    return json.loads(out.read_text())


def test_every_real_recording_is_scored(report):
    names = {f["name"] for f in report["files"]}
    assert set(BOUNDS) <= names, f"expected {sorted(BOUNDS)}, scored {sorted(names)}"


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_der_stays_within_its_bound(report, name):
    """No real file drifts back towards the old defaults' errors (missed speech, miscounted speakers)."""
    entry = next(f for f in report["files"] if f["name"] == name)
    bound, speakers = BOUNDS[name]
    assert entry["speakers_reference"] == speakers
    der = entry["scores"]["0"]["der"]
    assert der <= bound, f"{name}: DER {der:.1%} > {bound:.0%} ({entry['scores']['0']})"


def test_mean_der_is_below_the_old_defaults(report):
    """The previous defaults averaged 30.6 % on these four files."""
    assert report["mean"]["scores"]["0"]["der"] <= 0.27
