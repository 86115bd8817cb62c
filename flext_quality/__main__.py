"""``python -m flext_quality`` runs the command line."""

from flext_quality.entry import main

main()
