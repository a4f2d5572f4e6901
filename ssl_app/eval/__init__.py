"""Evaluation of frozen features: extraction, FAISS kNN, linear probe, result tables."""

from ssl_app.eval.features import extract_features, raw_pixel_features
from ssl_app.eval.knn import knn_accuracy, knn_classify, knn_top1
from ssl_app.eval.linear import linear_probe
from ssl_app.eval.report import print_results_table

__all__ = [
    "extract_features",
    "knn_accuracy",
    "knn_classify",
    "knn_top1",
    "linear_probe",
    "print_results_table",
    "raw_pixel_features",
]
