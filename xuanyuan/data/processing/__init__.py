"""The pretraining-data pipeline on datatrove: read → normalize → rule filters → perplexity → safety → MinHash
dedup → domain sampling → shards + per-stage stats.

Each stage is a datatrove block in its own module (plus the models the perplexity and safety filters use);
`pipeline.py` wires them into executors and `recipes/process_data.py` is the command-line entry point.
"""
