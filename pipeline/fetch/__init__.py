"""Download the official files: parallel, resumable, retried, and verified against the official size and md5.

``run`` chooses the files and verifies each one; ``transfer`` brings one file over HTTP into a part file;
``dest`` is the destination folder or prefix and its state file.
"""
