"""The command-line shell: one module per noun."""
