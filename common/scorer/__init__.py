"""The AlexNet sketch scorer, laid out like a model (configs, model, data, train, export, client).

Never imports sketch_rnn, wae_style or an application.
"""
