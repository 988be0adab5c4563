"""What the benchmarks measure: upstreams loaded through s3prl's hub, and s3prl's own Mockingjay at a given size."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from downstream_hooks.registration import register_in_process
from upstream_distilbert.checkpoint import STUDENT_FORMAT, CheckpointError, atomic_save
from upstream_distilbert.config import ModelConfig, TransformerConfig
from upstream_distilbert.errors import InputError
from upstream_distilbert.expert import UpstreamExpert
from upstream_distilbert.mockingjay_states import TRANSFORMER_KEYS
from upstream_distilbert.s3prl_states import read_states, s3prl_checkpoints_allowed

from .flops import EncoderShape


@dataclass
class Measured:
    """An upstream as the benchmarks see it."""

    name: str
    upstream: nn.Module  # s3prl upstream expert: list of waves -> hidden states
    encoder: nn.Module  # the transformer alone (features -> hidden states)
    shape: EncoderShape
    chunk: int  # frames per independent chunk (0: whole input)
    equal_chunks: bool = True  # ours: equal-sized chunks; s3prl's Mockingjay: `chunk` frames each, then the rest

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.encoder.parameters())


def detect_expert(ckpt: str | Path) -> str:
    """distilbert_local for our student files, mockingjay_local for s3prl's Mockingjay-family checkpoints; both are
    read weights-only (s3prl's with its few pickled classes allowed), so a hostile file is refused, not run."""
    state = read_states(ckpt)
    if state.get("format") == STUDENT_FORMAT:
        return "distilbert_local"
    if "Transformer" in state:
        return "mockingjay_local"
    raise CheckpointError(f"{ckpt}: neither an audio-distilbert student file nor an s3prl Mockingjay-family "
                          f"checkpoint (keys {sorted(map(str, state))}); name its s3prl hub entry with --teacher-expert")


def load_measured(ckpt: str | Path, expert: str | None = None, name: str = "", trust_pickle: bool = False) -> Measured:
    """Load `ckpt` through s3prl's hub entry `expert` (detected when None), in eval mode. The file is read
    weights-only first whatever the entry (s3prl's mockingjay_local unpickles it whole), and refused if it holds
    more than weights, unless `trust_pickle`."""
    import s3prl.hub

    register_in_process()
    if not trust_pickle:
        try:
            detected = detect_expert(ckpt)
        except CheckpointError as error:
            raise CheckpointError(f"{error}; if you trust the file, --trust-pickle lets s3prl unpickle it "
                                  "(which runs whatever code it names)") from error
        expert = expert or detected
    elif expert is None:
        raise InputError(f"{ckpt}: with --trust-pickle name the file's s3prl hub entry with --teacher-expert")
    with s3prl_checkpoints_allowed():  # s3prl's upstreams call torch.load without choosing
        upstream = getattr(s3prl.hub, expert)(ckpt=str(ckpt)).eval()
    if isinstance(upstream, UpstreamExpert):
        return Measured(name or expert, upstream, upstream.model.encoder, EncoderShape.of(upstream.model.config),
                        upstream.chunk_length)
    if expert.startswith("mockingjay") or expert.startswith("tera") or expert.startswith("audio_albert"):
        builder = upstream.transformer
        shape = EncoderShape.of_mockingjay(builder.config["transformer"], builder.inp_dim)
        return Measured(name or expert, upstream, builder.model, shape, builder.max_input_length, equal_chunks=False)
    raise InputError(f"{ckpt}: benchmarks know the shapes of distilbert and mockingjay-family upstreams, not {expert}")


def mockingjay_transformer(t: TransformerConfig) -> dict:
    """Our encoder's shape as s3prl Mockingjay's `transformer:` config dict."""
    return {key: getattr(t, key) for key in TRANSFORMER_KEYS}


def write_mockingjay_like(config: ModelConfig, chunk: int, path: Path) -> Path:
    """A randomly initialised s3prl Mockingjay of `config`'s shape and features, in the checkpoint layout
    `mockingjay_local` reads: the peer a user would otherwise pick at that size."""
    from s3prl.upstream.mockingjay.model import TransformerConfig as MockingjayConfig
    from s3prl.upstream.mockingjay.model import TransformerModel

    transformer = mockingjay_transformer(config.transformer)
    model = TransformerModel(MockingjayConfig(transformer), config.audio.feature_dim)
    audio = {k: v for k, v in config.audio.to_dict().items() if k != "sample_rate"}
    state = {
        "Transformer": model.state_dict(),
        "Upstream_Config": {"transformer": transformer, "task": {"sequence_length": chunk}, "audio": audio},
        "Config": {},
    }
    return atomic_save(state, path)
