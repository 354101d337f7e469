"""Python clients of Parley (see parley_client)."""
