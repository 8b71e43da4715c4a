"""Sketch RNN experiments: the seed's Experiments 1 and 2, recipes, the QuickDraw-23 corpus, quality measures."""
