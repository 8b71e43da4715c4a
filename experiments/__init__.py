"""Experiments built on the models: the seeds' experiments, recipes, corpora, quality and peer comparisons."""
