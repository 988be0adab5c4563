"""s3prl's Mockingjay-family checkpoints (`-u mockingjay | tera | audio_albert`) as our model.

Those `states-N.ckpt` hold `Transformer` (s3prl's `TransformerModel`), `SpecHead` (its reconstruction head) and
the upstream config, under `Upstream_Config` (s3prl >= 0.2) or, in legacy files, `Config`. The three families
differ only in config (TERA adds frequency and magnitude alteration, AudioALBERT shares one layer), so one
explicit name map turns any of them into an `AudioDistilBert` with the same hidden states: pre- or post-LN,
shared or not. Only checkpoints on s3prl's kaldi fbank extracter (`audio.kaldi`) convert: the released models on
its older `preprocessor` features (`audio.input.feat_type: mel | linear`) read other features than ours.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .checkpoint import CheckpointError, model_with_weights, save_student
from .config import AudioConfig, ConfigError, ModelConfig, TransformerConfig
from .model import AudioDistilBert
from .s3prl_states import read_states, unpickle_states

# The `transformer:` keys s3prl's TransformerConfig reads (the rest, such as `input_dim`, it ignores too).
TRANSFORMER_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
                    "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
                    "share_layer", "pre_layer_norm")

# s3prl module names -> ours. Inside `encoder.layer.<i>.`: pre-LN layers also register their LayerNorms under a
# second name (`LayerNorm`, `attention.LayerNorm`), and shared layers repeat layer 0 under every index.
_LAYER_MAP = {
    "attention.output.dense": "attention.out",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "feed_forward.up",
    "output.dense": "feed_forward.down",
    "output.LayerNorm": "output_norm",
}
_EMBEDDING_MAP = {
    "input_representations.spec_transform": "encoder.embedding.spec_transform",
    "input_representations.LayerNorm": "encoder.embedding.layer_norm",
}
_HEAD_MAP = {"dense": "dense", "LayerNorm": "layer_norm", "output": "output"}
_ALIASES = ("LayerNorm", "attention.LayerNorm")
_QKV = ("query", "key", "value")


def upstream_config(states: Mapping[str, Any], source: str) -> dict:
    """The upstream config dict of a Mockingjay-family checkpoint (new layout or legacy)."""
    for key in ("Upstream_Config", "Config"):
        config = states.get(key)
        if isinstance(config, Mapping) and "transformer" in config:
            return dict(config)
    raise CheckpointError(f"{source}: no Mockingjay-family config (expected 'transformer' under 'Upstream_Config' "
                          f"or, in legacy files, 'Config'; found keys {sorted(map(str, states))})")


def model_config(config: Mapping[str, Any], source: str, audio: Mapping[str, Any] | None = None) -> ModelConfig:
    """Our ModelConfig for s3prl's `transformer:` / `task:` / `audio:`; errors name the setting that does not fit.
    `audio` stands in for a file that records none (s3prl's on-the-fly config for such released checkpoints)."""
    audio = config.get("audio") or audio
    if not isinstance(audio, Mapping) or "kaldi" not in audio:
        feat = audio.get("input", {}).get("feat_type") if isinstance(audio, Mapping) else None
        raise CheckpointError(
            f"{source}: its input is not kaldi fbank (audio.kaldi): it reads s3prl's preprocessor features "
            f"(audio.input.feat_type: {feat!r}), which this project does not compute; use it as a teacher through "
            "s3prl's own expert for hidden-state distillation (distillation.prediction_weight: 0)"
        )
    transformer = {k: config["transformer"][k] for k in TRANSFORMER_KEYS if k in config["transformer"]}
    transformer["hidden_state_norms"] = bool(transformer.get("pre_layer_norm", False))  # Mockingjay's pre-LN outputs
    task = config.get("task") or {}
    try:
        return ModelConfig(
            transformer=TransformerConfig.from_dict(transformer, "transformer"),
            audio=AudioConfig.from_dict(audio, "audio"),
            sequence_length=int(task.get("sequence_length", 0)),
        )
    except (ConfigError, TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: {error}") from error


def _plain_name(name: str) -> str:
    return re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", name))  # TensorFlow-era names of old files


def encoder_weights(weights: Mapping[str, Tensor], shared: bool) -> dict[str, Tensor]:
    """s3prl's `Transformer` state dict under our `encoder.` names, query/key/value fused into one projection."""
    out: dict[str, Tensor] = {}
    qkv: dict[str, dict[str, Tensor]] = {}
    for name, tensor in weights.items():
        module, _, param = _plain_name(name).rpartition(".")
        layer = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)", module)
        norm = re.fullmatch(r"encoder\.LayerNorm\.(\d+)", module)
        if module in _EMBEDDING_MAP:
            out[f"{_EMBEDDING_MAP[module]}.{param}"] = tensor
        elif norm:
            out[f"encoder.hidden_norms.{norm.group(1)}.{param}"] = tensor
        elif layer and (layer.group(2) in _ALIASES or (shared and layer.group(1) != "0")):
            continue  # the same tensors registered under a second name
        elif layer and layer.group(2) in _LAYER_MAP:
            out[f"encoder.layers.{layer.group(1)}.{_LAYER_MAP[layer.group(2)]}.{param}"] = tensor
        elif layer and layer.group(2).startswith("attention.self.") and module.rsplit(".", 1)[1] in _QKV:
            qkv.setdefault(f"encoder.layers.{layer.group(1)}.attention.qkv.{param}", {})[module.rsplit(".", 1)[1]] = tensor
        else:
            raise CheckpointError(f"'Transformer' weight '{name}' has no counterpart in this model")
    for key, parts in qkv.items():
        if set(parts) != set(_QKV):
            raise CheckpointError(f"'Transformer': '{key}' lacks {sorted(set(_QKV) - set(parts))}")
        out[key] = torch.cat([parts[p] for p in _QKV])
    return out


def head_weights(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """s3prl's `SpecHead` state dict under our `spec_head.` names."""
    out = {}
    for name, tensor in weights.items():
        module, _, param = _plain_name(name).rpartition(".")
        if module not in _HEAD_MAP:
            raise CheckpointError(f"'SpecHead' weight '{name}' has no counterpart in this model")
        out[f"spec_head.{_HEAD_MAP[module]}.{param}"] = tensor
    return out


def from_mockingjay_states(states: Mapping[str, Any], source: str, audio: Mapping[str, Any] | None = None) -> AudioDistilBert:
    """Our model (encoder + reconstruction head) with the weights of an s3prl Mockingjay-family checkpoint;
    `audio` (s3prl's `audio:` layout) for a file that records no feature settings."""
    config = model_config(upstream_config(states, source), source, audio)
    for key in ("Transformer", "SpecHead"):
        if not isinstance(states.get(key), Mapping):
            raise CheckpointError(f"{source}: missing '{key}' (the {'encoder' if key == 'Transformer' else 'reconstruction head'} "
                                  f"weights); found keys {sorted(map(str, states))}")
    try:
        state_dict = encoder_weights(states["Transformer"], config.transformer.share_layer) | head_weights(states["SpecHead"])
    except CheckpointError as error:
        raise CheckpointError(f"{source}: {error}") from error
    return model_with_weights(config, state_dict, source).eval()


def convert_states(source: str | os.PathLike, out: str | os.PathLike, trust_pickle: bool = False,
                   audio: Mapping[str, Any] | None = None) -> AudioDistilBert:
    """Write an s3prl Mockingjay-family `states-N.ckpt` as our weights-only file (encoder, reconstruction head,
    config); the file is read weights-only unless `trust_pickle`."""
    states = unpickle_states(source) if trust_pickle else read_states(source)
    model = from_mockingjay_states(states, str(source), audio)
    save_student(model, out)
    return model
