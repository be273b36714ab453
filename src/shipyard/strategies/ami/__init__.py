"""The ami strategy: bake an image per service and version with Packer, prune, roll out."""
