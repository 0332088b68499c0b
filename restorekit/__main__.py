"""``python -m restorekit`` runs the command-line interface."""

from restorekit.cli import main

if __name__ == "__main__":
    main()
