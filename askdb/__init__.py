"""askdb: ask the ads database questions in Chinese; get checked SQL, a table and a short analysis."""

__version__ = "0.1.0"
