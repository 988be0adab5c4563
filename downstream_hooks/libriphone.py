"""The `libriphone` corpus of s3prl's `ctc` downstream (SUPERB's phoneme recognition), which s3prl's wheel lacks.

s3prl 0.4.18's `downstream/ctc/data.py` imports `.corpus.libriphone.LibriPhoneDataset` for `corpus.name: libriphone`,
but the wheel ships no `corpus/` folder, so `run_downstream.py -d ctc` fails on import. This is that dataset, written
from its contract: built as `LibriPhoneDataset(split_csv, tokenizer, bucket_size, **corpus)` (the corpus block of the
config, with `csv_dir`), its items are `(wav path, token ids)`, or with `bucket_size > 1` a list of `bucket_size`
neighbours, ordered by target length (longest first unless `ascending`), as `collect_audio_batch` reads them.

A split's csv has the columns `wav_path` and `transcription`; a relative `wav_path` is relative to `csv_dir`. The
transcription is words mapped to phones through `lexicon` (SUPERB on LibriSpeech: its lexicon files, each line `WORD
PH1 PH2 ...`, the first pronunciation of a word taken) or, without a lexicon, the phones themselves (the built-in
corpus: the phones each utterance was rendered with, `distilbert_corpus`). Every phone must be in the tokenizer's
vocabulary (`text.vocab_file`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from torch.utils.data import Dataset

from upstream_distilbert.errors import InputError, MissingError

COLUMNS = ("wav_path", "transcription")


def read_lexicon(files: list[str | Path]) -> dict[str, list[str]]:
    """word -> phones, the first pronunciation of each word over `files` in order."""
    lexicon: dict[str, list[str]] = {}
    for file in files:
        if not Path(file).is_file():
            raise MissingError(f"{file}: no such lexicon file (corpus.lexicon)")
        for number, line in enumerate(Path(file).read_text().splitlines(), 1):
            word, *phones = line.split()
            if not phones:
                raise InputError(f"{file}:{number}: {line!r} has no phones; expected 'WORD PH1 PH2 ...'")
            lexicon.setdefault(word, phones)
    return lexicon


class LibriPhoneDataset(Dataset):
    """One split of a phoneme-recognition corpus: audio files and their phone targets as token ids."""

    def __init__(self, split_csv: str, tokenizer: Any, bucket_size: int, csv_dir: str,
                 lexicon: list[str] | None = None, ascending: bool = False, **kwargs: Any) -> None:
        csv = Path(csv_dir) / split_csv
        if not csv.is_file():
            raise MissingError(f"{csv}: no such split file (corpus.csv_dir / {split_csv})")
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing or table.empty:
            raise InputError(f"{csv}: " + (f"lacks column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}"
                                           if missing else "has no utterances"))
        words = read_lexicon(lexicon) if lexicon else None
        vocabulary = tokenizer._vocab2idx  # s3prl's WordTextEncoder: phone -> id
        items = []
        for row, (wav, transcription) in enumerate(zip(table["wav_path"], table["transcription"]), 2):
            path = Path(wav) if Path(wav).is_absolute() else Path(csv_dir) / wav
            if not path.is_file():
                raise MissingError(f"{csv}:{row}: audio file {path} does not exist")
            phones = transcription.split()
            if words is not None:
                unknown = [w for w in phones if w not in words]
                if unknown:
                    raise InputError(f"{csv}:{row}: word {unknown[0]!r} is in no lexicon file ({', '.join(lexicon)})")
                phones = [p for w in phones for p in words[w]]
            outside = [p for p in phones if p not in vocabulary or p.startswith("<")]
            if not phones or outside:
                raise InputError(f"{csv}:{row}: " + (f"phone {outside[0]!r} is not in the vocabulary (text.vocab_file)"
                                                     if outside else "empty transcription"))
            items.append((str(path), tokenizer.encode(" ".join(phones))))
        items.sort(key=lambda item: len(item[1]), reverse=not ascending)
        self.bucket_size = bucket_size
        self.file_list, self.text = zip(*items)

    def __getitem__(self, index: int) -> tuple[str, list[int]] | list[tuple[str, list[int]]]:
        if self.bucket_size > 1:
            start = max(min(index, len(self.file_list) - self.bucket_size), 0)
            return list(zip(self.file_list[start:start + self.bucket_size], self.text[start:start + self.bucket_size]))
        return self.file_list[index], self.text[index]

    def __len__(self) -> int:
        return len(self.file_list)
