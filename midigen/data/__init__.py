"""corpus -> DATASET/ -> (x, y) windows: preparing token ids and batching them for training."""
