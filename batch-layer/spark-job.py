"""The Spark driver of `vigil batch --engine spark` (batch-layer/spark.ts starts it).

Input: one JSON line on stdin, the plan that batch-layer/spark.ts builds:
  {"master", "appName", "conf": {k: v}, "files": [parquet paths], "view", "missingColumns":
   [{"name", "type"}], "tables": [{"name", "schema", "rows"}], "query", "output"}
Output: the query's result as Parquet files under plan["output"] (a folder this script creates),
and on stdout one line per event, each `@vigil ` followed by JSON:
  {"event": "started", "version", "master", "parallelism", "seconds"}
  {"event": "progress", "done", "total"}       (tasks of the query's stages, every 0.5 s)
  {"event": "done", "seconds", "readSeconds", "querySeconds"}   (from the start; listing and
                                               merging the files' schemas; the query and its write)
  {"event": "error", "kind": "file" | "engine", "message"}   (then exit status 1)
Anything else on stdout or stderr is Spark's own log.

This script holds no statistics, bands or rules: the SQL comes from TypeScript (spark-sql.ts).
It reads the files with mergeSchema (DuckDB's union_by_name), adds the columns every file lacks
as typed nulls, registers the small tables, runs the query and writes its result.

Stdin stays open after the plan: when it closes (the Node process stopped or was cancelled), the
script exits at once, and Spark's JVM, whose stdin is a pipe from this process, exits with it.
"""

import json
import os
import sys
import threading
import time


def emit(event):
    sys.stdout.write("@vigil " + json.dumps(event) + "\n")
    sys.stdout.flush()


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(3)


def error_message(error, limit=600):
    """Spark's error in one line: its own message, without py4j's call line and the stack, and
    the first cause from outside Spark (e.g. the Parquet reader's) when there is one."""
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line != "" and not line.startswith("at ") and not line.startswith("An error occurred while calling")]
    if not lines:
        return type(error).__name__
    head = lines[0].lstrip(": ")
    # "Job aborted due to stage failure: ... : org.apache.spark.SparkException: [FAILED_READ_FILE..."
    marker = head.rfind("Exception: [")
    if marker >= 0:
        head = head[marker + len("Exception: "):]
    causes = [line.split(": ", 2) for line in lines if line.startswith("Caused by: ")]
    cause = next((c[2] for c in causes if len(c) == 3 and "SparkException" not in c[1]), None)
    text = head if cause is None or cause in head else f"{head} ({cause})"
    return text[:limit]


def about_a_file(message, files):
    """True when Spark failed on one of the lake's files (named in the message), not on itself."""
    if "FAILED_READ_FILE" in message or "CANNOT_READ_FILE" in message:
        return True
    return any(f in message for f in files)


def report_progress(sc, group, stop):
    tracker = sc.statusTracker()
    last = None
    while not stop.wait(0.5):
        done = total = 0
        for job_id in tracker.getJobIdsForGroup(group):
            job = tracker.getJobInfo(job_id)
            if job is None:
                continue
            for stage_id in job.stageIds:
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    total += stage.numTasks
                    done += stage.numCompletedTasks
        if total > 0 and (done, total) != last:
            last = (done, total)
            emit({"event": "progress", "done": done, "total": total})


def main():
    plan = json.loads(sys.stdin.readline())
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    t0 = time.time()
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    builder = SparkSession.builder.master(plan["master"]).appName(plan["appName"])
    for key, value in plan["conf"].items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    sc.setLogLevel("WARN")
    t_started = time.time()
    emit({"event": "started", "version": spark.version, "master": sc.master, "parallelism": sc.defaultParallelism, "seconds": t_started - t0})

    group = plan["appName"]
    sc.setJobGroup(group, "daily statistics", interruptOnCancel=True)
    stop = threading.Event()
    threading.Thread(target=report_progress, args=(sc, group, stop), daemon=True).start()
    try:
        df = spark.read.option("mergeSchema", "true").parquet(*plan["files"])
        for col in plan["missingColumns"]:
            if col["name"] not in df.columns:
                df = df.withColumn(col["name"], F.lit(None).cast(col["type"]))
        df.createOrReplaceTempView(plan["view"])
        for table in plan["tables"]:
            spark.createDataFrame(table["rows"], schema=table["schema"]).createOrReplaceTempView(table["name"])
        t_read = time.time()
        spark.sql(plan["query"]).write.mode("overwrite").parquet(plan["output"])
        t_query = time.time()
    except Exception as error:  # noqa: BLE001 - reported to the Node side, which decides
        message = error_message(error)
        emit({"event": "error", "kind": "file" if about_a_file(str(error), plan["files"]) else "engine", "message": message})
        stop.set()
        spark.stop()
        return 1
    stop.set()
    spark.stop()
    emit({"event": "done", "seconds": time.time() - t0, "readSeconds": t_read - t_started, "querySeconds": t_query - t_read})
    return 0


if __name__ == "__main__":
    try:
        status = main()
    except Exception as error:  # noqa: BLE001 - Spark did not start: the master, Java, memory
        emit({"event": "error", "kind": "engine", "message": error_message(error)})
        status = 1
    sys.exit(status)
