"""Who is calling: key digests, the stored keys and the principal every route depends on.

Imports no resource package: every resource imports this one.
"""
