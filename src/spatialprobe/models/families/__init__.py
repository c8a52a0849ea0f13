"""Model families: one module per family, each registering its `Card` in `MODELS`."""
