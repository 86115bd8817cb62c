"""``python -m flext_quality`` runs the command line."""

from flext_quality.cli import main

main()
