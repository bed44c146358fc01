"""The command line's stage commands, one module per stage; ``acg2vec/cli.py`` wires them into one app.

Each module imports only typer, the standard library and the light core modules at the top, so ``--help`` is
fast; heavy libraries (TensorFlow, Beam, torch, Scrapy) are imported inside the commands that use them.
"""
