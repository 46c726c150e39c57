"""``tf.nn``: neural-network ops."""

__all__: list[str] = []
