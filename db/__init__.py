"""Storage: engine, SQLModel tables, migrations and the repositories that do every write."""
