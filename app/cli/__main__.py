"""`python -m app.cli` is `docfuse`."""

from app.cli import main

main()
