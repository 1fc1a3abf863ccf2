"""Test support: real servers and the pytest plugin that provides them."""
