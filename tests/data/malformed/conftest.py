"""The malformed corpus is input for tests/test_malformed.py, not scenarios to collect."""

collect_ignore_glob = ["*.yaml", "*.json", "*.py"]
