"""Score a Parquet or CSV file with a BigML deepnet on Spark; write the predictions as Parquet.

    spark-submit --master local[2] examples/spark/score.py MODEL INPUT.parquet|INPUT.csv OUTPUT

MODEL is the deepnet's JSON (as downloaded from BigML, gzipped or not); it is read on the driver
and broadcast to the executors. The input's columns are matched to the model's fields by name
(CSV: the header line). OUTPUT is a new Parquet directory holding the input's columns, the
predictions and an `error` column (null, or why that row could not be scored); an existing
OUTPUT is never replaced. On a cluster only the master changes, e.g. `--master yarn`.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession

from sensenet.spark import predict


def main(model: str, input_path: str, output_path: str) -> None:
    spark = SparkSession.builder.appName("sensenet-score").getOrCreate()
    reader = spark.read
    if input_path.lower().endswith(".csv"):
        rows = reader.csv(input_path, header=True, inferSchema=True)
    else:
        rows = reader.parquet(input_path)
    predict(rows, model, on_error="null").write.parquet(output_path, mode="errorifexists")
    spark.stop()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
