"""Assets: equipment types and the individual devices the hospital tracks and maintains."""
