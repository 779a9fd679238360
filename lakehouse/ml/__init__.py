"""Learning: the feature table as the model reads it, the time split, evaluation, the model store, plots and
MLflow tracking."""
