"""Shared pieces for Sketch RNN and WAE style transfer: data, rendering, Gram matrices, training."""
