"""Sketch RNN: a VAE over pen strokes (Ha & Eck 2017) with LSTM, LayerNorm LSTM and HyperLSTM cells."""
