"""A built wheel: its facts (name, metadata, tags, libraries), the checks and repair it
goes through, and the wheel store it lands in."""
