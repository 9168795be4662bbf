"""Mask pixels: the segmentation PNGs streamed out of their zip archives as COCO RLE rows."""
