"""What the slow tests share: the repository as git ships it, fresh virtual environments, and a JupyterHub."""
