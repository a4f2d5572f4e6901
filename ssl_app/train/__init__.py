"""Training: the LightningModule, optimisers and schedules, callbacks."""
