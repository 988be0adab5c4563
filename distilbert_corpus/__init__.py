"""The built-in corpus: synthesized speech with exact frame-level phone labels, and length CSVs for any LibriSpeech-layout folder."""
