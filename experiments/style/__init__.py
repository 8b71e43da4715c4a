"""WAE style-transfer experiments: Gatys and Magenta's network as peers, and the comparison tables."""
