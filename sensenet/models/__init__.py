"""Models built from a spec, and the public wrappers around them."""
