"""CAM++ wrapper: Kaldi-exact features, batching that does not change embeddings, pyannote checkpoint round trip."""

import pytest

torch = pytest.importorskip("torch")
kaldi = pytest.importorskip("torchaudio.compliance.kaldi")

from echonote.worker.campplus import KaldiFbank, load_campplus, save_pyannote_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return load_campplus()


@pytest.fixture(scope="module")
def speech(sample_wav):
    import soundfile as sf

    audio, _ = sf.read(sample_wav, dtype="float32")
    return torch.from_numpy(audio)


def test_fbank_matches_kaldi(speech):
    ours = KaldiFbank()(speech[None, :32000])[0]
    reference = kaldi.fbank(speech[None, :32000], num_mel_bins=80, frame_length=25, frame_shift=10, dither=0.0,
                            window_type="povey", use_energy=False, sample_frequency=16000)
    assert ours.shape == reference.shape
    assert torch.allclose(ours, reference, atol=2e-3)


def _chunks_and_masks(speech):
    """Three chunks x three local speakers, as pyannote sends them; pairs of masks share a length."""
    chunks = torch.stack([speech[i * 16000: i * 16000 + 160000] for i in (6, 10, 14)])
    waveforms = chunks.repeat_interleave(3, dim=0)[:, None]
    masks = torch.zeros(9, 589)
    for i in range(9):
        start = (i * 53) % 300
        masks[i, start:start + 150 + 40 * (i // 2)] = 1.0
    masks[4] = 0.0  # a silent local speaker
    return waveforms, masks


@pytest.mark.parametrize("tolerance,min_cosine", [(0.0, 0.9999), (0.1, 0.95)])
def test_batched_embeddings_match_one_by_one(speech, tolerance, min_cosine):
    """Batching never changes an embedding beyond the allowed cropping of ``length_tolerance``."""
    model = load_campplus(length_tolerance=tolerance)
    waveforms, masks = _chunks_and_masks(speech)
    with torch.inference_mode():
        batched = model(waveforms, weights=masks)
        calls = model.network_calls
        single = torch.cat([model(waveforms[i:i + 1], weights=masks[i:i + 1]) for i in range(9)])
    assert calls < 8  # fewer network passes than active items
    assert torch.isnan(batched[4]).all() and torch.isnan(single[4]).all()
    keep = [i for i in range(9) if i != 4]
    cosine = torch.nn.functional.cosine_similarity(batched[keep], single[keep])
    assert cosine.min() > min_cosine, cosine


def test_short_input_rejected_without_mask(model):
    with pytest.raises(ValueError, match="at least"):
        model(torch.zeros(1, 1, 1000))


def test_checkpoint_round_trip(model, tmp_path, speech):
    from pyannote.audio import Model

    path = save_pyannote_checkpoint(model, tmp_path / "pytorch_model.bin")
    loaded = Model.from_pretrained(str(path)).eval()
    x = speech[None, None, 96000:256000]
    with torch.inference_mode():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)
