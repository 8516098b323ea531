"""`echonote lab serve`: a working copy that keeps learners' edits, root or not, and no news pop-up."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

from support.environments import ROOT, free_port, isolated_env

from echonote import config
from echonote.lab import serve

NEWS_SETTINGS = "@jupyterlab/apputils-extension:notification"


def test_the_copy_is_made_once_and_a_learners_edit_survives_the_next_serve(tmp_path, monkeypatch):
    """`make lab` served notebooks/ itself, so outputs autosaved into tracked files."""
    monkeypatch.setenv("ECHONOTE_STATE_DIR", str(tmp_path / "state"))
    where, copied = serve.prepare(user="learner")
    sources = sorted(p.relative_to(serve.SOURCE) for p in serve.SOURCE.rglob("*.ipynb")
                     if ".ipynb_checkpoints" not in p.parts)
    assert len(sources) >= 10  # five notebooks and their exercises
    assert where.notebooks.is_relative_to(tmp_path / "state") and not where.notebooks.is_relative_to(serve.SOURCE)
    assert sorted(p.relative_to(where.notebooks) for p in copied if p.suffix == ".ipynb") == sources

    edited = where.notebooks / sources[0]
    edited.write_text('{"edited by": "a learner"}')
    missing = where.notebooks / sources[-1]
    missing.unlink()
    _, again = serve.prepare(user="learner")
    assert again == [missing] and missing.exists()  # only what was missing
    assert edited.read_text() == '{"edited by": "a learner"}'

    _, fresh = serve.prepare(user="learner", fresh=True)
    assert edited in fresh and edited.read_bytes() == (serve.SOURCE / sources[0]).read_bytes()
    assert serve.folders(user="other").notebooks != where.notebooks  # one copy per user


def test_allow_root_only_for_root(tmp_path):
    where = serve.folders(config.load(), user="learner")
    as_root = serve.jupyter_argv(where, 8888, uid=0)
    as_user = serve.jupyter_argv(where, 8888, uid=1000)
    assert "--allow-root" in as_root and "--allow-root" not in as_user
    assert f"--ServerApp.root_dir={where.notebooks}" in as_user
    assert "--notebook-dir=notebooks" not in " ".join(as_user)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _in_effect(answer: dict, key: str):
    """A setting as the browser applies it: the user's value, else the schema's default (where overrides land)."""
    return answer["settings"].get(key, answer["schema"]["properties"][key].get("default"))


def test_echonote_lab_serve_runs_as_this_user_and_jupyterlab_reads_the_kits_no_news_setting(tmp_path):
    """The command as `make lab` runs it (root here), and the setting read back from JupyterLab's own API."""
    port, token = free_port(), "t" + "0" * 31
    env = isolated_env(tmp_path, ECHONOTE_LAB_PORT=str(port), ECHONOTE_USER="learner")
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "echonote", "lab", "serve", f"--IdentityProvider.token={token}"],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get_json(f"{base}/api/status?token={token}")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (tmp_path / "lab.log").read_text()[-3000:]
                    raise AssertionError("JupyterLab did not start:\n" + log) from None
                time.sleep(0.5)
        news = _get_json(f"{base}/lab/api/settings/{NEWS_SETTINGS}?token={token}")
        assert _in_effect(news, "fetchNews") == "false", news  # "Never": no pop-up asking, no request
        assert _in_effect(news, "checkForUpdates") is False, news
        served = _get_json(f"{base}/api/contents?token={token}")
        names = {item["name"] for item in served["content"]}
        assert "03_submit_diarization_jobs.ipynb" in names and "exercises" in names, names
        printed = (tmp_path / "lab.log").read_text()
        copies = tmp_path / "state" / "lab" / "notebooks" / "learner"
        assert f"learners' notebooks: {copies}" in printed
        assert (copies / "exercises" / "03_submit_diarization_jobs.ipynb").is_file()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
