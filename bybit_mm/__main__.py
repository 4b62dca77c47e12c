"""`python -m bybit_mm` and the `bybit-mm` script run the CLI."""

import gc


def main() -> None:
    """Console-script entry point: :func:`bybit_mm.cli.app.main`, imported with the garbage
    collector off."""
    # Importing the CLI makes ~100,000 objects that live as long as the process and no garbage
    # cycles: the collector would scan them some 30 times while they load (~0.02 s of every start)
    # and again in every later full collection. They load without collections and are frozen out
    # of later ones.
    gc.disable()
    try:
        from bybit_mm.cli.app import main as cli_main
    finally:
        gc.freeze()
        gc.enable()
    cli_main()


if __name__ == "__main__":
    main()
