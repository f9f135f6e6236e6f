"""Data: record reading and validation, the embedded synthetic finance world, and (later) cleaning,
packing and mixtures."""
