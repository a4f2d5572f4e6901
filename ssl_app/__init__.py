"""ssl_app: contrastive (InfoNCE) self-supervised image representation learning."""

__version__ = "0.1.0"
