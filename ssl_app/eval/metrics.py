"""Per-class accuracy and confusion matrix of predicted vs true labels."""

from __future__ import annotations

import torch


def confusion_matrix(pred: torch.Tensor, truth: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts: row = true class, column = predicted class."""
    flat = truth.long() * num_classes + pred.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(pred: torch.Tensor, truth: torch.Tensor, num_classes: int) -> list[float]:
    """Recall of every class (NaN for a class absent from `truth`)."""
    cm = confusion_matrix(pred, truth, num_classes).double()
    return (cm.diagonal() / cm.sum(1)).tolist()
