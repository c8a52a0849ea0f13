"""Training the pieces that keep location: one loop (seeded batches, AdamW, gradient accumulation,
checkpoints that resume to the same weights) shared by the lab and the real-model recipes."""
