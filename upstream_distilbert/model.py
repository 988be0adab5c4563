"""The Audio DistilBERT transformer: a Mockingjay-family encoder over fbank frames, and its reconstruction head.

    features (B, T, D) -> InputEmbedding (linear + sinusoidal positions + LayerNorm)
                       -> L x TransformerLayer (self-attention + feed-forward, pre- or post-LayerNorm)
                       -> hidden states [embedding, layer 1, ..., layer L]
    SpecPredictionHead: last hidden state -> predicted fbank frames (masked acoustic modelling)

Attention runs through `torch.nn.functional.scaled_dot_product_attention` (fused kernels on CPU and GPU); padded
frames are masked out of every attention so that a padded batch gives each utterance its unpadded output.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .config import ModelConfig, TransformerConfig

_ACT = {"gelu": nn.GELU, "relu": nn.ReLU, "swish": nn.SiLU, "silu": nn.SiLU, "tanh": nn.Tanh}


def sinusoid_positions(length: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Transformer sinusoid table (length, width): sin on even channels, cos on odd ones (Mockingjay's)."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    rate = torch.pow(10000.0, -2 * (torch.arange(width, device=device) // 2).float() / width)
    angle = position * rate
    table = torch.where(torch.arange(width, device=device) % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.to(dtype)


def padding_mask(lengths: Tensor | None, length: int) -> Tensor | None:
    """Boolean (B, T) mask of real frames, or None when no frame is padding."""
    if lengths is None or bool((lengths >= length).all()):
        return None
    return torch.arange(length, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class InputEmbedding(nn.Module):
    """Projects feature frames to the model width and adds positions, then LayerNorm and dropout."""

    def __init__(self, input_dim: int, config: TransformerConfig) -> None:
        super().__init__()
        self.spec_transform = nn.Linear(input_dim, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, features: Tensor) -> Tensor:
        x = self.spec_transform(features)
        x = x + sinusoid_positions(x.shape[1], x.shape[2], x.device, x.dtype)
        return self.dropout(self.layer_norm(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused QKV projection; `num_heads` may be fewer after pruning.

    `recompute` (gradient checkpointing) keeps only the projections' outputs for the backward pass and computes the
    attention itself again there: its frames x frames probabilities (which training, with dropout, materialises)
    are the activations that grow with the square of the length; everything else in a layer grows linearly, so
    keeping it saves the second pass through the projections and the feed-forward block."""

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int, dropout: float,
                 recompute: bool = False) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.dropout, self.recompute = num_heads, head_dim, dropout, recompute
        self.qkv = nn.Linear(hidden_size, 3 * num_heads * head_dim)
        self.out = nn.Linear(num_heads * head_dim, hidden_size)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]
        dropout = self.dropout if self.training else 0.0
        if self.recompute and self.training and torch.is_grad_enabled():
            # non-reentrant checkpoint restores the RNG state, so the recomputation draws the same dropout
            y = checkpoint(F.scaled_dot_product_attention, q, k, v, attn_mask, dropout, use_reentrant=False)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        return self.out(y.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim))

    @torch.no_grad()
    def keep_heads(self, keep: list[int]) -> None:
        """Drop every head whose current position is not in `keep`, slicing the projections' weights."""
        index = torch.tensor(keep, device=self.qkv.weight.device)
        dims = (index[:, None] * self.head_dim + torch.arange(self.head_dim, device=index.device)).flatten()
        inner = self.num_heads * self.head_dim
        rows = torch.cat([dims, dims + inner, dims + 2 * inner])
        qkv = nn.Linear(self.qkv.in_features, rows.numel()).to(self.qkv.weight)
        qkv.weight.copy_(self.qkv.weight[rows])
        qkv.bias.copy_(self.qkv.bias[rows])
        out = nn.Linear(dims.numel(), self.out.out_features).to(self.out.weight)
        out.weight.copy_(self.out.weight[:, dims])
        out.bias.copy_(self.out.bias)
        self.qkv, self.out, self.num_heads = qkv, out, len(keep)


class FeedForward(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = _ACT[config.hidden_act]()
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.act(self.up(x)))


class TransformerLayer(nn.Module):
    """Self-attention and feed-forward blocks with residuals; LayerNorm after each block (BERT/Mockingjay) or
    before it (`pre_layer_norm`)."""

    def __init__(self, config: TransformerConfig, num_heads: int) -> None:
        super().__init__()
        self.pre_layer_norm = config.pre_layer_norm
        self.attention = SelfAttention(
            config.hidden_size, num_heads, config.head_dim, config.attention_probs_dropout_prob,
            recompute=config.gradient_checkpointing,
        )
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        if self.pre_layer_norm:
            x = x + self.dropout(self.attention(self.attention_norm(x), mask))
            return x + self.dropout(self.feed_forward(self.output_norm(x)))
        x = self.attention_norm(x + self.dropout(self.attention(x, mask)))
        return self.output_norm(x + self.dropout(self.feed_forward(x)))


class TransformerEncoder(nn.Module):
    """Input embedding plus `num_hidden_layers` layers (one shared module when `share_layer`)."""

    def __init__(self, input_dim: int, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = InputEmbedding(input_dim, config)
        distinct = 1 if config.share_layer else config.num_hidden_layers
        self.layers = nn.ModuleList(TransformerLayer(config, len(config.heads_kept(i))) for i in range(distinct))
        # Pre-LN stacks leave their residual stream unnormalised: normalise the last output, or every output as
        # s3prl's Mockingjay does (`hidden_state_norms`).
        width, eps = config.hidden_size, config.layer_norm_eps
        self.final_norm = nn.LayerNorm(width, eps=eps) if config.pre_layer_norm and not config.hidden_state_norms else None
        self.hidden_norms = nn.ModuleList(nn.LayerNorm(width, eps=eps) for _ in range(config.num_hidden_layers + 1)) \
            if config.hidden_state_norms else None

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> list[Tensor]:
        """features (B, T, D), lengths (B,) -> num_hidden_layers + 1 hidden states, each (B, T, hidden_size)."""
        return self.encode(features, padding_mask(lengths, features.shape[1]))

    def encode(self, features: Tensor, mask: Tensor | None) -> list[Tensor]:
        """The same from a boolean (B, T) mask of real frames (None: no padding); free of data-dependent branches,
        so that it exports to ONNX with dynamic batch and time axes."""
        x = self.embedding(features)
        hidden_states = [x]
        for i in range(self.config.num_hidden_layers):
            x = self.layers[0 if self.config.share_layer else i](x, mask)
            hidden_states.append(x)
        if self.final_norm is not None:
            hidden_states[-1] = self.final_norm(x)
        if self.hidden_norms is not None:
            hidden_states = [norm(h) for norm, h in zip(self.hidden_norms, hidden_states)]
        return hidden_states


class SpecPredictionHead(nn.Module):
    """Hidden states -> reconstructed feature frames, for masked acoustic modelling and prediction distillation."""

    def __init__(self, output_dim: int, config: TransformerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = _ACT[config.hidden_act]()
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.output = nn.Linear(config.hidden_size, output_dim)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.output(self.layer_norm(self.act(self.dense(hidden))))


class AudioDistilBert(nn.Module):
    """Encoder plus reconstruction head, built from a `ModelConfig`; the unit that checkpoints save and load."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        input_dim = config.audio.feature_dim
        self.encoder = TransformerEncoder(input_dim, config.transformer)
        self.spec_head = SpecPredictionHead(input_dim, config.transformer)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=self.config.transformer.initializer_range)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        """Returns (hidden states, reconstruction of the input frames from the last hidden state)."""
        hidden_states = self.encoder(features, lengths)
        return hidden_states, self.spec_head(hidden_states[-1])

    def num_parameters(self, encoder_only: bool = True) -> int:
        module = self.encoder if encoder_only else self
        return sum(p.numel() for p in module.parameters())

    def prune_heads(self, heads: dict[int, list[int]]) -> None:
        """Remove attention heads, given per layer in their original numbering, and record them in the config."""
        tcfg = self.config.transformer
        merged = {layer: set(pruned) for layer, pruned in tcfg.pruned_heads.items()}
        for layer, remove in heads.items():
            merged.setdefault(int(layer), set()).update(int(h) for h in remove)
        new_tcfg = dataclasses.replace(tcfg, pruned_heads={k: tuple(sorted(v)) for k, v in merged.items()})
        for layer, module in enumerate(self.encoder.layers):
            before, after = tcfg.heads_kept(layer), new_tcfg.heads_kept(layer)
            if before != after:
                module.attention.keep_heads([before.index(h) for h in after])
        self.config = dataclasses.replace(self.config, transformer=new_tcfg)
        self.encoder.config = new_tcfg

