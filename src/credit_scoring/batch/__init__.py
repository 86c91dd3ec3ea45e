"""Portfolio scoring: whole books of applicants from files, on one machine or on Spark.

``io`` streams CSV/Parquet inputs and writes outputs atomically, ``validate`` checks and encodes
each record batch against the model's feature schema, ``transform`` scores a batch (the step both
engines share), ``model`` loads the registered version as the API does, ``local`` is the
streaming engine and ``spark`` the Apache Spark one.
"""
