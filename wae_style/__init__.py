"""WAE style transfer: content and style latents, one feed-forward pass per stylised image."""
