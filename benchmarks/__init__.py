"""Benchmarks: size, speed, FLOP efficiency, training throughput and length scaling of teacher and student,
against s3prl's own Mockingjay and the machine's measured matrix-multiply rate. Every script writes JSON;
`report.py` turns the JSON into the README's table. Installed as the package `distilbert_benchmarks`."""
