"""ids -> MODEL/ -> tokens: the network, training, checkpoints, evaluation and sampling.

Only the modules that train or evaluate import torch; sampling runs in NumPy.
"""
