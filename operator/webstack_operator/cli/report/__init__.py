"""`kubectl webstack report`: a support bundle (ZIP) of one stack, its operator and its cluster, redacted."""
