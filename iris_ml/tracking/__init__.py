"""The tracking store: can it be used, and the team's ``mlflow server``."""
