"""Audio DistilBERT: the model, its features, the exported checkpoint format and the s3prl upstream expert."""
from .checkpoint import CheckpointError, load_student, save_student
from .config import AudioConfig, ConfigError, ModelConfig, TransformerConfig
from .model import AudioDistilBert

__all__ = [
    "AudioConfig",
    "AudioDistilBert",
    "CheckpointError",
    "ConfigError",
    "ModelConfig",
    "TransformerConfig",
    "load_student",
    "save_student",
]
