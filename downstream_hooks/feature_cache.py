"""Frozen upstream features computed once per utterance and reused across steps, epochs and seeds.

s3prl's downstream runner calls the upstream on every batch, although a frozen upstream (no `-f`, eval mode) gives
the same hidden states for an utterance every time: for phone_linear on the demo corpus the upstream is most of a
step. `audio-distilbert downstream --feature-cache DIR` wraps the upstream that s3prl's runner builds in
`CachedUpstream`: each utterance is run alone (batch of one, so no padding reaches it) the first time it is seen,
its output is written to `DIR/<upstream key>/<waveform sha1>.pt` (atomically, weights-only loadable), and later
batches, in this run or another with another seed, are assembled from those files; the first `MEMORY_BYTES` of
entries are also kept in memory, so that a corpus of that size is read from disk once per run. The key
covers everything that determines the features (`upstream_key`): another model, checkpoint, setting, version of our
code or of the packages that compute them never reads this one's features.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from upstream_distilbert.atomic import atomic_write, remove_stale_temporaries
from upstream_distilbert.digest import file_digest, path_digest, source_digest
from upstream_distilbert.errors import InputError

from .patching import require

Output = dict[str, Any]
MEMORY_BYTES = 4 << 30  # entries kept in memory as well, at most: beyond it they are read back from their files


def weights_digest(model: nn.Module) -> str:
    """sha256 of every parameter and buffer (name, dtype, shape, bytes): what a checkpoint given as a URL or a hub
    name actually loaded, whatever its string says."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def code_digest() -> str:
    """sha256 of the source of our upstream package and of this cache: a change to the features, CMVN, chunking
    or how outputs are stored makes new entries."""
    return source_digest("upstream_distilbert", __name__)


def upstream_key(upstream: str, ckpt: str | None, model_config: str | None, model: nn.Module) -> str:
    """A folder name for one upstream, from everything that determines its features: the hub name, the contents
    of its checkpoint (file or folder) and model config (`-g`), the weights it loaded and our model's config where
    it is ours (a URL or hub name is only a string), our code, and the versions of the packages that compute them
    (s3prl's `fbank` has no weights: its code and s3prl's version are its key)."""
    config = getattr(getattr(model, "model", None), "config", None)
    options = getattr(model, "options", None)
    parts = {
        "upstream": upstream,
        "ckpt": path_digest(ckpt) if ckpt and Path(ckpt).exists() else ckpt,
        "model_config": file_digest(model_config) if model_config and Path(model_config).is_file() else model_config,
        "weights": weights_digest(model),
        "config": config.to_dict() if hasattr(config, "to_dict") else None,
        "options": dataclasses.asdict(options) if dataclasses.is_dataclass(options) else None,
        "chunk_length": getattr(model, "chunk_length", None),
        "code": code_digest(),
        "versions": {name: version(name) for name in ("audio-distilbert", "s3prl", "torch", "torchaudio")},
    }
    return f"{upstream}-{hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]}"


def _save(output: Output, path: Path) -> None:
    """Written atomically (a unique temporary file, renamed; removed if the save fails): a killed run leaves no
    half-written entry under its name. No fsync, unlike checkpoints: an entry lost to a power failure is simply
    computed again."""
    atomic_write(path, lambda file: torch.save(output, file), fsync=False)


def _unbatch(value: Any) -> Any:
    """One utterance's output (batch of one) without its batch dimension; lists of tensors item by item."""
    if isinstance(value, Tensor):
        return value[0].detach().cpu().clone()
    if isinstance(value, (list, tuple)) and all(isinstance(v, Tensor) for v in value):
        return [v[0].detach().cpu().clone() for v in value]
    return value


def _batch(items: list[Any], device: torch.device) -> Any:
    """Outputs of several utterances as one batch, zero-padded along time (s3prl's Featurizer trims each
    utterance to its own length)."""
    first = items[0]
    if isinstance(first, Tensor):
        return pad_sequence(items, batch_first=True).to(device) if first.dim() else torch.stack(items).to(device)
    if isinstance(first, list):
        return [_batch([item[i] for item in items], device) for i in range(len(first))]
    return first


class CachedUpstream(nn.Module):
    """A frozen s3prl upstream expert whose output for each waveform is computed once and then read back."""

    def __init__(self, upstream: nn.Module, folder: str | Path, memory_bytes: int = MEMORY_BYTES) -> None:
        super().__init__()
        self.upstream = upstream
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)  # features a killed run was writing
        self.memory: dict[str, Output] = {}
        self.memory_left = memory_bytes
        self.computed = 0  # utterances this process ran through the upstream (the rest came from the cache)

    def get_downsample_rates(self, key: str) -> int:
        return self.upstream.get_downsample_rates(key)

    def train(self, mode: bool = True) -> "CachedUpstream":
        if mode:
            raise InputError("--feature-cache is for a frozen upstream; it cannot be trained (-f)")
        return super().train(False)

    def _one(self, wav: Tensor) -> Output:
        key = hashlib.sha1(wav.detach().cpu().float().numpy().tobytes()).hexdigest()
        if key in self.memory:
            return self.memory[key]
        path = self.folder / f"{key}.pt"
        try:
            output = torch.load(path, weights_only=True)
        except (FileNotFoundError, RuntimeError, EOFError):  # not cached yet, or a file a crash left unfinished
            with torch.no_grad():
                output = {name: _unbatch(value) for name, value in self.upstream([wav]).items()}
            _save(output, path)
            self.computed += 1
        size = sum(t.nbytes for value in output.values() for t in (value if isinstance(value, list) else [value])
                   if isinstance(t, Tensor))
        if size <= self.memory_left:
            self.memory[key], self.memory_left = output, self.memory_left - size
        return output

    def forward(self, wavs: list[Tensor]) -> Output:
        outputs = [self._one(wav) for wav in wavs]
        device = wavs[0].device
        return {name: _batch([output[name] for output in outputs], device) for name in outputs[0]}


def cached_runner(base: type, root: Path) -> type:
    """s3prl's downstream Runner whose frozen upstream reads and writes the feature cache under `root`."""
    require(base, "_get_upstream")

    class Runner(base):
        def _get_upstream(self):
            if self.args.upstream_trainable:
                raise InputError("--feature-cache: the upstream is fine-tuned here (-f), so its features change "
                                 "with every step; drop one of them")
            entry = super()._get_upstream()
            key = upstream_key(self.args.upstream, self.args.upstream_ckpt, self.args.upstream_model_config,
                               entry.model)
            entry.model = CachedUpstream(entry.model, root / key)
            print(f"[audio-distilbert] - upstream features cached in {root / key}")
            return entry

    return Runner
