"""modules/paths.py: set by the test fixture (`boot`)."""

data_path = "."
models_path = "./models"
script_path = "."
