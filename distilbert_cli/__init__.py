"""The `audio-distilbert` command line and the demo that runs the whole job through it."""
