"""The shipped configs as package data: pyproject.toml installs this folder as the package ``gradlab.configs``
(see ``gradlab.shipped``). Each ``*.yaml`` here is one phenomenon; this file only makes the folder a package."""
