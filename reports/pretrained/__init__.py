"""The report on Google's pretrained Sketch RNN decoders, split by concern: inputs, sampling, measures, figures, markdown."""
