"""``torchwarden run``: govern an unmodified script. See README.md beside this file."""
