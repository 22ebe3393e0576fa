"""bgpd: a BGP speaker and route reflector for Calico clusters.

`__version__` is the one place the version is written: pyproject.toml reads it at build time
(`[tool.setuptools.dynamic]`), and every command's `--version` and the `bgpd_build_info` metric
read it at run time, so what runs reports the code that runs (an editable install's metadata
would keep the version it was installed with).
"""

__version__ = "0.1.0"
