"""Analyzer adapters, the subprocess runner, project discovery with the allow-list,
the collect pipeline and git-history backfill."""
