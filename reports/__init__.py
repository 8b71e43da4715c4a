"""Reports built on the models: evidence written as figures, JSON and markdown."""
