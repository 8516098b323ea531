"""Named speakers: enrol, list, remove and identify through the real stack and --local, with the real CAM++ model.

Each test enrols for its own user, so voiceprints of one never reach another.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.cli_runs import run_cli
from support.probes import heavy_after

from echonote import client, db, names
from echonote.client.speakers import Clip, submit_enrollment
from echonote.errors import BadInput
from echonote.results import samples
from echonote.results.identification import assign_names

pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")

#: parts of pyannote's sample where one speaker talks alone (reference: speaker90, then speaker91)
ANN = ("8.3", "14.5")
BOB = ("21.7", "28.5")


@pytest.fixture(scope="module")
def sample() -> dict[str, Path]:
    return samples.ensure_pyannote_sample()


def as_user(user: str) -> dict[str, str]:
    return {**os.environ, "ECHONOTE_USER": user}


def enroll_cli(user: str, name: str, wav: Path, start: str, end: str, *extra: str):
    return run_cli("speakers", "enroll", name, str(wav), "--start", start, "--end", end, *extra, env=as_user(user),
                   timeout=600)


def reference_speaker(segments: list[dict], label: str, reference: list[dict]) -> str:
    """The reference speaker that ``label``'s turns overlap most."""
    overlap: dict[str, float] = {}
    for s in (s for s in segments if s["speaker"] == label):
        for r in reference:
            overlap[r["speaker"]] = overlap.get(r["speaker"], 0.0) + max(0.0, min(s["end"], r["end"]) -
                                                                         max(s["start"], r["start"]))
    return max(overlap, key=overlap.get)


def test_enroll_list_identify_remove_through_the_stack(stack, sample):
    from echonote.results.plots import read_rttm

    user = "stack-speakers"
    for name, (start, end) in (("Ann", ANN), ("Bob", BOB)):
        done = enroll_cli(user, name, sample["wav"], start, end)
        assert done.returncode == 0, done.stderr
        assert f"enrolled {name} for {user}" in done.stdout and "model campplus" in done.stdout
    listed = run_cli("speakers", "list", "--json", env=as_user(user))
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["Ann", "Bob"] and all(r["speech_seconds"] >= 3 for r in rows)
    assert all(r["model_name"] == "campplus" and len(r["model_sha256"]) == 64 for r in rows)

    job = client.submit_diarization(sample["wav"], identify=True, user=user)
    result = client.wait(job.task_id, timeout=900)
    reference = read_rttm(sample["rttm"])
    by_name = {s["speaker"]: s for s in result["speakers"]}
    assert set(by_name) == {"Ann", "Bob"}, result["speakers"]
    assert reference_speaker(result["segments"], "Ann", reference) == "speaker90"
    assert reference_speaker(result["segments"], "Bob", reference) == "speaker91"
    assert all(s["score"] >= result["identification"]["threshold"] for s in by_name.values())
    assert {s["cluster"] for s in by_name.values()} == {"SPEAKER_00", "SPEAKER_01"}
    rttm = Path(result["rttm_path"]).read_text()
    assert " Ann " in rttm and " Bob " in rttm and "SPEAKER_0" not in rttm.replace("SPEAKER sample", "")

    removed = run_cli("speakers", "remove", "Bob", env=as_user(user))
    assert removed.returncode == 0 and "removed Bob" in removed.stdout
    again = run_cli("speakers", "remove", "Bob", env=as_user(user))
    assert again.returncode == 2 and "no voiceprint named 'Bob'" in again.stderr and "Ann" in again.stderr
    assert [r["name"] for r in json.loads(run_cli("speakers", "list", "--json", env=as_user(user)).stdout)] == ["Ann"]
    assert run_cli("speakers", "list", "--json", env=as_user("someone-else")).stdout.strip() == "[]"


def test_local_enroll_and_identify(sample, tmp_path):
    user = "local-speakers"
    for name, (start, end) in (("Ann", ANN), ("Bob", BOB)):
        done = enroll_cli(user, name, sample["wav"], start, end, "--local")
        assert done.returncode == 0, done.stderr
    out = tmp_path / "named.json"
    done = run_cli("diarize", str(sample["wav"]), "--local", "--identify", "--json", str(out), env=as_user(user),
                   timeout=900)
    assert done.returncode == 0, done.stderr
    assert "Ann" in done.stdout and "Bob" in done.stdout and "similarity" in done.stdout
    result = json.loads(out.read_text())
    assert sorted(s["speaker"] for s in result["speakers"]) == ["Ann", "Bob"]
    assert result["identification"]["user"] == user and result["identification"]["voiceprints"] == ["Ann", "Bob"]


@pytest.mark.parametrize("start,end,expected", [
    ("8.3", "9.6", r"only 1\.\d s of speech"),
    ("0", "6", "no speech"),
])
def test_too_short_or_silent_enrolment_is_refused_clearly(stack, sample, start, end, expected):
    import re

    user = "short-clips"
    done = enroll_cli(user, "Ann", sample["wav"], start, end)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert re.search(expected, done.stderr) and "at least 3 s" in done.stderr and "longer clip" in done.stderr
    local = enroll_cli(user, "Ann", sample["wav"], start, end, "--local")
    assert local.returncode == 2 and re.search(expected, local.stderr), local.stderr
    assert db.list_voiceprints(user) == []
    assert stack.worker_ping("worker"), "the worker must survive a refused enrolment"


def test_enrolment_job_fails_once_as_bad_input(stack, sample):
    job = submit_enrollment("Ann", [Clip(sample["wav"], 0.0, 2.0)], user="short-job")
    with pytest.raises(BadInput, match="no speech|only"):
        client.wait(job.task_id, timeout=300)
    row = db.get_job(job.id)
    assert row.status == db.FAILED and row.attempts == 1, "bad input must not be retried"


def test_bad_names_and_clip_options_are_refused_before_sending(sample):
    assert run_cli("speakers", "enroll", "SPEAKER_00", str(sample["wav"])).returncode == 2
    done = run_cli("speakers", "enroll", "Ann", str(sample["wav"]), "--start", "1", "--start", "2")
    assert done.returncode == 2 and "--start was given 2 time(s) for 1 file(s)" in done.stderr


def test_voiceprint_of_another_model_is_never_compared(stack, sample):
    user = "old-model"
    enrolled = client.wait(submit_enrollment("Ann", [Clip(sample["wav"], 8.3, 14.5)], user=user).task_id, timeout=600)
    db.save_voiceprint(user, "Bob", model_name="campplus", model_sha256="0" * 64,
                       embedding=json.dumps([0.0] * 192), speech_seconds=9.0)
    result = client.wait(client.submit_diarization(sample["wav"], identify=True, user=user).task_id, timeout=900)
    found = result["identification"]
    assert found["voiceprints"] == ["Ann"] and enrolled["model"]["sha256"] == found["model"]["sha256"]
    assert [r["name"] for r in found["refused"]] == ["Bob"] and "cannot be compared" in found["refused"][0]["reason"]
    assert all(s["closest"] == "Ann" for s in result["speakers"]), "Bob's voiceprint must not be compared"
    assert sorted(s["speaker"] for s in result["speakers"])[0] == "Ann"


def test_two_speakers_never_get_the_same_name():
    both_like_ann = {"SPEAKER_00": {"Ann": 0.9, "Bob": 0.6}, "SPEAKER_01": {"Ann": 0.8, "Bob": 0.55}}
    assert assign_names(both_like_ann, 0.5) == {"SPEAKER_00": "Ann", "SPEAKER_01": "Bob"}
    assert assign_names({"SPEAKER_00": {"Ann": 0.7}, "SPEAKER_01": {"Ann": 0.95}}, 0.5) == {"SPEAKER_01": "Ann"}
    assert assign_names({"SPEAKER_00": {"Ann": 0.49}}, 0.5) == {}


def test_one_voiceprint_names_one_speaker_only(stack, sample):
    """Both speakers of the sample are compared with Ann's voiceprint: only the closer takes the name."""
    user = "only-ann"
    client.wait(submit_enrollment("Ann", [Clip(sample["wav"], 8.3, 14.5)], user=user).task_id, timeout=600)
    result = client.wait(client.submit_diarization(sample["wav"], identify=True, user=user).task_id, timeout=900)
    labels = sorted(s["speaker"] for s in result["speakers"])
    assert labels[0] == "Ann" and labels[1].startswith("SPEAKER_"), labels
    other = next(s for s in result["speakers"] if s["speaker"] != "Ann")
    assert other["closest"] == "Ann" and other["score"] < result["identification"]["threshold"]


def test_identify_without_enrolments_is_the_same_as_without(stack, sample):
    plain = client.wait(client.submit_diarization(sample["wav"], user="nobody-enrolled").task_id, timeout=900)
    named = client.wait(client.submit_diarization(sample["wav"], identify=True, user="nobody-enrolled").task_id,
                        timeout=900)
    assert named["segments"] == plain["segments"] and named["speakers"] == plain["speakers"]
    assert Path(named["rttm_path"]).read_text() == Path(plain["rttm_path"]).read_text()
    assert named["identification"]["voiceprints"] == [] and "no voiceprint" in named["identification"]["note"]


def test_diarize_then_identify_chain_built_from_names(stack, sample):
    from echonote.client.canvas import identify_chain

    user = "chain-user"
    for name, (start, end) in (("Ann", ANN), ("Bob", BOB)):
        client.wait(submit_enrollment(name, [Clip(sample["wav"], float(start), float(end))], user=user).task_id,
                    timeout=600)
    chain = identify_chain(str(sample["wav"]), user=user)
    assert [task.task for task in chain.tasks] == [names.DIARIZE, names.IDENTIFY_SPEAKERS]
    with client.talking_to_broker():
        sent = chain.apply_async()
    result = client.wait(sent.id, timeout=900)
    assert sorted(s["speaker"] for s in result["speakers"]) == ["Ann", "Bob"]
    assert Path(result["rttm_path"]).read_text().count(" Ann ") >= 1


def test_transcript_with_identify_names_the_speakers(stack, sample):
    user = "transcript-user"
    for name, (start, end) in (("Ann", ANN), ("Bob", BOB)):
        client.wait(submit_enrollment(name, [Clip(sample["wav"], float(start), float(end))], user=user).task_id,
                    timeout=600)
    job, parts = client.submit_transcript(sample["wav"], identify=True, user=user, formats=("txt",))
    result = client.wait(job.task_id, timeout=900)
    text = Path(result["files"]["txt"]).read_text()
    assert "Ann" in text and "Bob" in text and "SPEAKER_" not in text, text


def test_panel_names_box_sends_identify(stack, sample):
    pytest.importorskip("ipywidgets")
    from echonote.client.speakers import list_speakers, remove_speaker
    from echonote.lab.panel import SubmissionPanel

    user = client.current_user()  # the panel submits as the session's user, whom notebook 05 also enrols
    for leftover in list_speakers(user):  # (its cleanup cells do not run in tests): only Ann and Bob may match
        remove_speaker(leftover["name"], user)
    for name, (start, end) in (("Ann", ANN), ("Bob", BOB)):
        client.wait(submit_enrollment(name, [Clip(sample["wav"], float(start), float(end))]).task_id, timeout=600)
    try:
        panel = SubmissionPanel(poll_seconds=0.2)
        panel.identify.value = True
        assert panel.diarization_options()["identify"] is True
        [view] = panel.submit([sample["wav"]])
        result = client.wait(view.task_id, timeout=900)
        assert sorted(s["speaker"] for s in result["speakers"]) == ["Ann", "Bob"]
        assert result["identification"]["user"] == user
    finally:
        for name in ("Ann", "Bob"):
            remove_speaker(name)


def test_enrolling_a_name_again_replaces_its_voiceprint():
    values = {"model_name": "campplus", "model_sha256": "a" * 64, "speech_seconds": 5.0}
    _, replaced = db.save_voiceprint("replacer", "Ann", embedding="[1.0]", **values)
    assert not replaced
    _, replaced = db.save_voiceprint("replacer", "Ann", embedding="[0.5]", **values)
    assert replaced and [v.embedding for v in db.list_voiceprints("replacer")] == ["[0.5]"]
    assert db.list_voiceprints("someone-else") == [] and db.remove_voiceprint("replacer", "Ann")
    assert not db.remove_voiceprint("replacer", "Ann")


def test_identify_task_refuses_what_is_not_a_diarization(stack):
    sent = client.send_by_name(names.IDENTIFY_SPEAKERS, args=({"segments": []},))
    with pytest.raises(BadInput, match="takes the result of echonote.diarize"):
        client.wait(sent.id, timeout=120)
    assert stack.worker_ping("worker")


def test_speaker_commands_and_client_stay_light():
    """Listing, removing and sending an enrolment need no torch, numpy or worker code."""
    assert heavy_after("import echonote.cli.speakers, echonote.client.speakers, echonote.results.identification, "
                       "echonote.client.canvas") == []
