"""``python -m pgqrs``: the ``pgqrs`` command line."""

from pgqrs.cli import main

if __name__ == "__main__":
    main()
