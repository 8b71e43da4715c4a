"""Sketch & style studio: a local web page and JSON API over the exported SavedModels."""
