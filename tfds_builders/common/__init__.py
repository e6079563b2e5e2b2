"""Code shared by kvideo's dataset builders (not a builder itself)."""
