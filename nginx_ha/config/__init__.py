"""Stack settings: models, parsing of the engine's values, rules per area (pure)."""
