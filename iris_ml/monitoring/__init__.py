"""Monitoring: drift of the payload log against the training data's profile."""
