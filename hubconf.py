"""torch.hub entry points: torch.hub.load(REPO_DIR, "distilbert_local", ckpt=PATH, source="local")."""
dependencies = ["torch", "torchaudio", "s3prl"]

from upstream_distilbert.hubconf import distilbert, distilbert_local, distilbert_url  # noqa: E402,F401
