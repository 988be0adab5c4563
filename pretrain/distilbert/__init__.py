"""The distilbert pretraining task that s3prl's `run_pretrain.py -u distilbert` drives.

`pretrain_expert.py` holds `UpstreamPretrainExpert`, the class s3prl's runner imports; the pieces it composes
are `config.py` (config_model.yaml and datarc as typed objects), `dataset.py` (length-CSV buckets, crops and
features), `masking.py` (masked acoustic modelling), `teacher.py` (a frozen s3prl upstream) and `objectives.py`
(the losses); `export.py` turns a `states-N.ckpt` into the student file.
"""
