"""What the tests share besides fixtures: paths of the shared data, checkpoint writers, the parity
comparison, doc invariants, the CLI runner. Imported as ``from helpers.X import ...`` (tests/ is on
sys.path under pytest)."""
