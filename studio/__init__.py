"""The studio: the local web app (server, serve) over exported models.

An application: it reaches models only through sketch_rnn.client and wae_style.client, and
never imports training code.
"""
