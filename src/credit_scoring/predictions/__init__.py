"""The prediction-log contract shared by its writer (the API) and its readers (monitoring)."""
