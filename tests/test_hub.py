"""Hub entries: s3prl.hub after registration, torch.hub from this checkout, downloads served on loopback."""
from __future__ import annotations

import functools
import os
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from s3prl.util import download

from downstream_hooks.registration import register_in_process
from upstream_distilbert import hubconf

from .conftest import REPO


def _same_output(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    wave = torch.rand(8000) - 0.5
    with torch.no_grad():
        return all(torch.equal(x, y) for x, y in zip(a.eval()([wave])["hidden_states"], b.eval()([wave])["hidden_states"]))


def test_s3prl_hub_sees_the_entries_after_registration(student_ckpt: Path) -> None:
    import s3prl.hub

    register_in_process()
    assert {"distilbert_local", "distilbert_url", "distilbert"} <= set(s3prl.hub.options())
    expert = s3prl.hub.distilbert_local(ckpt=str(student_ckpt), model_config=None, refresh=False)
    assert _same_output(expert, hubconf.distilbert_local(str(student_ckpt)))


def test_torch_hub_load_from_this_checkout(student_ckpt: Path) -> None:
    expert = torch.hub.load(str(REPO), "distilbert_local", ckpt=str(student_ckpt), source="local")
    assert _same_output(expert, hubconf.distilbert_local(str(student_ckpt)))


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served(student_ckpt: Path, tmp_path: Path) -> Iterator[str]:
    """The student file served over HTTP on 127.0.0.1, with s3prl's download cache in a temporary folder."""
    handler = functools.partial(_CountingHandler, directory=str(student_ckpt.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    old_dir = download.get_dir()
    download.set_dir(tmp_path / "cache")
    _CountingHandler.hits = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{student_ckpt.name}"
    finally:
        download.set_dir(old_dir)
        server.shutdown()
        server.server_close()


def test_distilbert_url_downloads_once_then_loads(served: str, student_ckpt: Path, tmp_path: Path) -> None:
    expert = hubconf.distilbert_url(served)
    assert _same_output(expert, hubconf.distilbert_local(str(student_ckpt)))
    cached = list((tmp_path / "cache").glob("*student.ckpt"))
    assert len(cached) == 1 and cached[0].read_bytes() == student_ckpt.read_bytes()
    hubconf.distilbert_url(served)
    assert len(_CountingHandler.hits) == 1  # served from the cache
    # s3prl's refresh re-downloads a cached file older than 2 s (younger ones count as just fetched by a peer).
    os.utime(cached[0], (cached[0].stat().st_atime - 60, cached[0].stat().st_mtime - 60))
    hubconf.distilbert_url(served, refresh=True)
    assert len(_CountingHandler.hits) == 2


def test_default_model_says_none_is_published_and_how_to_get_one() -> None:
    with pytest.raises(RuntimeError, match="no pretrained Audio DistilBERT student has been published.*distilbert_local"):
        hubconf.distilbert(ckpt=None, model_config=None, refresh=False)


def test_local_entry_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.ckpt"):
        hubconf.distilbert_local(str(tmp_path / "absent.ckpt"))
