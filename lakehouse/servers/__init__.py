"""Serving Spark: the Thrift, Connect and standalone-cluster servers, and the background processes they run as."""
