"""One adapter per port, named for its technology; only bootstrap.py builds them."""
