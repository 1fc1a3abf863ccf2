"""`codegen`: the whole system on one machine."""
