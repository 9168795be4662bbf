"""Which official files overlap: a ``-boxable`` file is a subset of the full file of the same split."""

# (subset family, superset family, table, key columns)
OVERLAPS = (
    ("images_boxable", "images", "images", ("image_id_u64",)),
    (
        "image_labels_human_boxable",
        "image_labels_human",
        "image_labels",
        ("image_id_u64", "source", "label_mid", "confidence"),
    ),
)
