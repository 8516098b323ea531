"""`python -m echonote` is the `echonote` command."""
from echonote.cli import main

main()
