"""The embedded default captioner: GIT architecture trained on the project's scenes."""
