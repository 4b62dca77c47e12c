"""`python -m bybit_mm` runs the CLI."""

from bybit_mm.cli.app import main

if __name__ == "__main__":
    main()
