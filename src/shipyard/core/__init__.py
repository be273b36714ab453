"""The shared core: errors, constants, the spec, YAML, files, the collection, the runner.

Imports nothing of the strategies, the API or the CLI.
"""
