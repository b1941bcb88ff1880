"""The vocabulary: records, actor messages and ports. Imports nothing of the project."""
