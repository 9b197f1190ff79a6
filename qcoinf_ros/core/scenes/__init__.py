"""Synthetic captioning scenes (seeded generator, COCO export): the embedded default task."""
