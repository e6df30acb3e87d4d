"""Helpers the Spark jobs share; each job ships this file to the executors (`addPyFile`)."""
import os

from pyspark import SparkFiles


def executable(reckit, shipped):
    """The reckit binary inside a task: the shipped copy, else the given path or PATH."""
    if shipped:
        path = SparkFiles.get(os.path.basename(reckit))
        if not os.access(path, os.X_OK):
            os.chmod(path, 0o755)
        return path
    return reckit


def ship(sc, reckit):
    """Ships this module, and the reckit binary when it is a file; returns (path, shipped)."""
    sc.addPyFile(os.path.abspath(__file__))
    shipped = os.path.isfile(reckit)
    path = os.path.abspath(reckit) if shipped else reckit
    if shipped:
        sc.addFile(path)
    return path, shipped
