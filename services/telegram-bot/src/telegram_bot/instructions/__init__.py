"""The agents' instructions this service hands to the workers it creates (package data)."""
