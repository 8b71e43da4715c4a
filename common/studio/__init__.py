"""The studio: the local web app (server, serve) and the demo's gallery.

It reaches models only through sketch_rnn.client and wae_style.client, and never imports
training code.
"""
