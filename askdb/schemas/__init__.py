"""The ads database: DDL with Chinese comments, the catalog, and the demo-data generator."""

from askdb.schemas.catalog import Catalog, Column, ForeignKey, Table, packaged_catalog

__all__ = ["Catalog", "Column", "ForeignKey", "Table", "packaged_catalog"]
