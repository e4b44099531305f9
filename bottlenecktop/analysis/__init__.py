"""Pure functions over the session timeline: findings, the knee, the magic number, the capacity plan."""
