"""The end-to-end demo: small models trained on built-in data, a gallery and measured checks."""
