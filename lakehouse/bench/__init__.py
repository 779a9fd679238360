"""Measuring: the benchmark against bare Spark SQL, pandas, DuckDB and Dask, and the build profile."""
