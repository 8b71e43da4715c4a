"""What the sketchstyle-* commands do beyond flag parsing: read inputs, call a client, write PNG/SVG/JSON."""
