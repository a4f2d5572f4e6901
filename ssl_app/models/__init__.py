"""Models: timm backbones (with an optional small-image stem) and projection heads."""

from ssl_app.models.backbone import create_backbone, patch_small_image_stem
from ssl_app.models.exported import load_backbone
from ssl_app.models.heads import ProjectionHead

__all__ = ["ProjectionHead", "create_backbone", "load_backbone", "patch_small_image_stem"]
