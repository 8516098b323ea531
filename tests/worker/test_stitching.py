"""Stitching local speakers of non-anchor chunks to their anchor by co-activity."""

import numpy as np
import pytest

pytest.importorskip("pyannote.audio")

from echonote.worker.stitching import stitch_to_anchors  # noqa: E402


def _timeline_activity(tracks, num_chunks=4, frames=100, step=10):
    """Chunks sliding over a global (time, speaker) activity; local speaker order permuted per chunk."""
    total = frames + step * (num_chunks - 1)
    glob = np.zeros((total, len(tracks)), dtype=np.float32)
    for k, (a, b) in enumerate(tracks):
        glob[a:b, k] = 1
    rng = np.random.default_rng(0)
    chunks, perms = [], []
    for c in range(num_chunks):
        perm = rng.permutation(len(tracks))
        chunks.append(glob[c * step: c * step + frames][:, perm])
        perms.append(perm)
    return np.stack(chunks), perms


def test_shifted_speakers_are_stitched_to_the_anchor():
    activity, perms = _timeline_activity([(0, 60), (50, 130)])
    need, source = stitch_to_anchors(activity, chunk_step_frames=10, stride=3)
    assert need[0].all() and need[3].any()  # anchors: chunks 0 and the last one
    for c in (1, 2):
        for s in range(2):
            a, t = source[(c, s)]
            assert a == 0 and perms[c][s] == perms[0][t]  # same global speaker
    assert not need[1:3].any()


def test_new_voice_gets_its_own_embedding():
    activity, _ = _timeline_activity([(0, 60), (50, 130), (108, 125)], frames=100, step=10)
    need, source = stitch_to_anchors(activity, chunk_step_frames=10, stride=3)
    # the third voice starts after chunk 0 ends: chunks 1 and 2 must embed it themselves
    for c in (1, 2):
        local = [s for s in range(3) if activity[c, :, s].any() and (c, s) not in source]
        assert local and all(need[c, s] for s in local)


def test_stride_one_embeds_everything_active():
    activity, _ = _timeline_activity([(0, 60), (50, 130)])
    need, source = stitch_to_anchors(activity, chunk_step_frames=10, stride=1)
    assert not source and (need == (activity.sum(axis=1) > 0)).all()
