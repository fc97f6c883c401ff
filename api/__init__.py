"""The central service: ingest, statistics, review queue, model registry, web pages.
Builds on vision/ only; never imports torch or edge/."""
