"""Configuration: matrix.yaml (what gets built), templates/settings.yaml (how the generated
files build it) and the torch release sync that keeps matrix.yaml current, each parsed once
into frozen objects with one-line errors."""
