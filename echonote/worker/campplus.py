"""CAM++ speaker embeddings (3D-Speaker, zh/en 16 kHz) as a ``pyannote.audio`` Model.

pyannote's diarization pipeline calls its embedding model with batches of
10-second chunks plus, for each, a frame mask of one local speaker. This wrapper

* computes Kaldi filterbanks once per distinct chunk (the pipeline repeats each
  chunk once per local speaker) with a batched implementation,
* keeps only the frames where that speaker is active ("gather"), which beats
  mask-weighted pooling for CAM++, and mean-normalises them per segment,
* groups segments of similar length and crops each group to its shortest member
  (at most ``length_tolerance`` of the frames are dropped), so the network runs
  on dense batches instead of one segment at a time. A batch holds at most
  ``max_batch_frames`` frames: activations cost ~80 kB per frame, and bigger
  batches are no faster on CPU.

The network matches 3D-Speaker's ``CAMPPlus(feat_dim=80, embedding_size=192)``
layer for layer (state-dict compatible); as upstream, the final BatchNorm has no ReLU.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pyannote.audio import Model
from pyannote.audio.core.task import Problem, Resolution, Specifications

__all__ = ["CAMPPlus", "CAMPPlusEmbedding", "KaldiFbank", "load_campplus", "save_pyannote_checkpoint"]


# --------------------------------------------------------------------------- network


class _BasicResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """2-D convolutional front end over (frequency, time)."""

    def __init__(self, m_channels: int = 32, feat_dim: int = 80):
        super().__init__()
        self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        self.layer1 = nn.Sequential(_BasicResBlock(m_channels, m_channels, 2), _BasicResBlock(m_channels, m_channels))
        self.layer2 = nn.Sequential(_BasicResBlock(m_channels, m_channels, 2), _BasicResBlock(m_channels, m_channels))
        self.conv2 = nn.Conv2d(m_channels, m_channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(m_channels)
        self.out_channels = m_channels * (feat_dim // 8)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU(inplace=True))]))


class _TDNNLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1):
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                dilation=dilation, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x):
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local conv gated by utterance- and segment-level context."""

    def __init__(self, bn_channels, out_channels, kernel_size, padding, dilation, reduction=2, seg_len=100):
        super().__init__()
        self.linear_local = nn.Conv1d(bn_channels, out_channels, kernel_size, padding=padding, dilation=dilation,
                                      bias=False)
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(bn_channels // reduction, out_channels, 1)
        self.seg_len = seg_len

    def forward(self, x):
        y = self.linear_local(x)
        context = x.mean(-1, keepdim=True) + self._seg_pooling(x)
        return y * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))

    def _seg_pooling(self, x):
        seg = F.avg_pool1d(x, kernel_size=self.seg_len, stride=self.seg_len, ceil_mode=True)
        return seg.repeat_interleave(self.seg_len, dim=-1)[..., : x.shape[-1]]


class _CAMDenseTDNNLayer(nn.Module):
    def __init__(self, in_channels, out_channels, bn_channels, kernel_size, dilation):
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn_channels)
        self.cam_layer = _CAMLayer(bn_channels, out_channels, kernel_size, (kernel_size - 1) // 2 * dilation,
                                   dilation)

    def forward(self, x):
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _CAMDenseTDNNBlock(nn.ModuleList):
    def __init__(self, num_layers, in_channels, out_channels, bn_channels, kernel_size, dilation):
        super().__init__()
        for i in range(num_layers):
            layer = _CAMDenseTDNNLayer(in_channels + i * out_channels, out_channels, bn_channels, kernel_size,
                                       dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x):
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _TransitLayer(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x):
        mean = x.mean(dim=-1)
        std = x.std(dim=-1, unbiased=True) if x.shape[-1] > 1 else torch.full_like(mean, 1e-2)
        return torch.cat([mean, std], dim=-1)


class _DenseLayer(nn.Module):
    """Final projection + affine-free BatchNorm (no ReLU, as in 3D-Speaker)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(out_channels, affine=False))]))

    def forward(self, x):
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    """CAM++ network: (batch, frames, feat_dim) mean-normalised fbank -> (batch, embedding_size)."""

    def __init__(self, feat_dim: int = 80, embedding_size: int = 192, growth_rate: int = 32, bn_size: int = 4,
                 init_channels: int = 128):
        super().__init__()
        self.head = _FCM(feat_dim=feat_dim)
        channels = self.head.out_channels
        self.xvector = nn.Sequential(OrderedDict([("tdnn", _TDNNLayer(channels, init_channels, 5, stride=2))]))
        channels = init_channels
        for i, (num_layers, kernel_size, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)]):
            self.xvector.add_module(f"block{i + 1}", _CAMDenseTDNNBlock(
                num_layers, channels, growth_rate, bn_size * growth_rate, kernel_size, dilation))
            channels += num_layers * growth_rate
            self.xvector.add_module(f"transit{i + 1}", _TransitLayer(channels, channels // 2))
            channels //= 2
        self.xvector.add_module("out_nonlinear", _bn_relu(channels))
        self.xvector.add_module("stats", _StatsPool())
        self.xvector.add_module("dense", _DenseLayer(channels * 2, embedding_size))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(feats.transpose(1, 2)))


# --------------------------------------------------------------------------- features


class KaldiFbank(nn.Module):
    """Batched Kaldi-compatible log mel filterbank (povey window, snip_edges, no dither, no energy).

    Numerically matches ``torchaudio.compliance.kaldi.fbank`` but runs on a whole batch at once.
    """

    def __init__(self, sample_rate: int = 16000, num_mel_bins: int = 80, frame_length_ms: float = 25.0,
                 frame_shift_ms: float = 10.0, preemphasis: float = 0.97, low_freq: float = 20.0):
        super().__init__()
        from torchaudio.compliance.kaldi import get_mel_banks

        self.window_size = int(sample_rate * frame_length_ms / 1000)
        self.window_shift = int(sample_rate * frame_shift_ms / 1000)
        self.padded_size = 1 << (self.window_size - 1).bit_length()
        self.preemphasis = preemphasis
        window = torch.hann_window(self.window_size, periodic=False, dtype=torch.float64).pow(0.85)
        mel, _ = get_mel_banks(num_mel_bins, self.padded_size, float(sample_rate), low_freq, 0.0, 100.0, -500.0, 1.0)
        mel = F.pad(mel, (0, 1), value=0.0)  # (num_mel_bins, padded_size // 2 + 1)
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("mel", mel.float().T.contiguous(), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return 0 if num_samples < self.window_size else 1 + (num_samples - self.window_size) // self.window_shift

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) float waveform (not rescaled) -> (batch, frames, num_mel_bins)."""
        frames = waveforms.unfold(-1, self.window_size, self.window_shift)  # (B, T, W)
        frames = frames - frames.mean(dim=-1, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        frames = (frames - self.preemphasis * previous) * self.window
        spectrum = torch.fft.rfft(frames, n=self.padded_size).abs().pow(2.0)
        eps = torch.finfo(spectrum.dtype).eps
        return torch.matmul(spectrum, self.mel).clamp_min(eps).log()


# --------------------------------------------------------------------------- pyannote model


class CAMPPlusEmbedding(Model):
    """CAM++ as a pyannote.audio embedding model (see module docstring for the batching)."""

    def __init__(self, sample_rate: int = 16000, num_channels: int = 1, feat_dim: int = 80,
                 embedding_size: int = 192, length_tolerance: float = 0.1, max_batch_frames: int = 4_000,
                 min_input_duration: float = 0.25, task=None):
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=task)
        self.save_hyperparameters("feat_dim", "embedding_size", "length_tolerance", "max_batch_frames",
                                  "min_input_duration")
        self.fbank = KaldiFbank(sample_rate=sample_rate, num_mel_bins=feat_dim)
        self.campplus = CAMPPlus(feat_dim=feat_dim, embedding_size=embedding_size)
        self.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                             duration=10.0)
        self.length_tolerance = float(length_tolerance)
        self.max_batch_frames = int(max_batch_frames)
        self.network_calls = 0  # batched CAM++ forward passes (for tests / profiling)
        self.frames_embedded = 0  # feature frames fed to CAM++ (the main cost)

    @property
    def dimension(self) -> int:
        return self.hparams.embedding_size

    def _unique_features(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """Fbank of each distinct waveform; consecutive repeats (one per local speaker) share features."""
        owner, keep = [], []
        for i in range(waveforms.shape[0]):
            if keep and waveforms[i].shape == waveforms[keep[-1]].shape and torch.equal(waveforms[i],
                                                                                       waveforms[keep[-1]]):
                owner.append(len(keep) - 1)
            else:
                keep.append(i)
                owner.append(len(keep) - 1)
        return self.fbank(waveforms[keep]), owner

    def _segments(self, feats, owner, weights):
        """Per item: its gathered, mean-normalised frames (or None when the speaker is silent)."""
        num_frames = feats.shape[1]
        if weights is None:
            masks = torch.ones(len(owner), num_frames, dtype=torch.bool, device=feats.device)
        else:
            masks = F.interpolate(weights[:, None].float(), size=num_frames, mode="nearest")[:, 0] > 0
        segments = []
        for item, u in enumerate(owner):
            index = masks[item].nonzero()[:, 0]
            if index.numel() == 0:
                segments.append(None)
                continue
            seg = feats[u, index]
            segments.append(seg - seg.mean(dim=0, keepdim=True))
        return segments

    def _batches(self, lengths: list[int]):
        """Group item indices by similar length; yields (indices, common_length)."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        start = 0
        while start < len(order):
            longest = lengths[order[start]]
            floor = max(1, int(np.ceil(longest * (1.0 - self.length_tolerance))))
            cap = max(1, self.max_batch_frames // max(longest, 1))
            stop = start + 1
            while stop < len(order) and stop - start < cap and lengths[order[stop]] >= floor:
                stop += 1
            group = order[start:stop]
            yield group, lengths[group[-1]]
            start = stop

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, 1, samples) waveforms [+ (batch, frames) speaker masks] -> (batch, 192) embeddings.

        Items whose mask is empty get NaN (pyannote ignores them). Without masks, inputs
        shorter than ``min_input_duration`` are rejected, which is how pyannote learns the
        shortest usable excerpt.
        """
        batch = waveforms.shape[0]
        num_samples = waveforms.shape[-1]
        if weights is None and num_samples < self.hparams.min_input_duration * self.hparams.sample_rate:
            raise ValueError(f"CAM++ needs at least {self.hparams.min_input_duration} s of audio per embedding.")
        feats, owner = self._unique_features(waveforms[:, 0].float())
        segments = self._segments(feats, owner, weights)
        out = torch.full((batch, self.dimension), float("nan"), device=waveforms.device)
        active = [i for i, s in enumerate(segments) if s is not None]
        lengths = [max(segments[i].shape[0], 8) for i in active]
        for group, length in self._batches(lengths):
            items = [active[g] for g in group]
            stacked = torch.stack([_fit(segments[i], length) for i in items])
            out[items] = self.campplus(stacked)
            self.network_calls += 1
            self.frames_embedded += stacked.shape[0] * stacked.shape[1]
        return out


def _fit(segment: torch.Tensor, length: int) -> torch.Tensor:
    """Centre-crop a (frames, dim) segment to ``length`` frames, tiling very short ones."""
    n = segment.shape[0]
    if n < length:
        return segment.repeat((length + n - 1) // n, 1)[:length]
    start = (n - length) // 2
    return segment[start:start + length]


def load_campplus(path: str | Path | None = None, **hparams) -> CAMPPlusEmbedding:
    """Build :class:`CAMPPlusEmbedding` with the bundled (checksum-verified) CAM++ weights."""
    if path is None:
        from echonote.worker.weights import bundled_path

        path = bundled_path("campplus")
    model = CAMPPlusEmbedding(**hparams)
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    model.campplus.load_state_dict(state, strict=True)
    model.eval()
    return model


def save_pyannote_checkpoint(model: CAMPPlusEmbedding, path: str | Path) -> Path:
    """Save ``model`` so that ``pyannote.audio.Model.from_pretrained(path)`` rebuilds it (hparams included)."""
    import lightning
    import pyannote.audio

    checkpoint = {
        "pytorch-lightning_version": lightning.__version__,
        "state_dict": model.state_dict(),
        "hparams_name": "kwargs",
        "hyper_parameters": dict(model.hparams),
        "pyannote.audio": {
            "versions": {"torch": torch.__version__, "pyannote.audio": pyannote.audio.__version__},
            "architecture": {"module": type(model).__module__, "class": type(model).__name__},
            "specifications": model.specifications,
        },
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path
