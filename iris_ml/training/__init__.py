"""Training: the data, the evaluation, the gate and the pipeline ``train.py`` runs."""
