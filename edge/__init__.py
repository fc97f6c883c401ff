"""The device agent: config, frame sources, trigger, pipeline, outbox, uploader, model updater.
Builds on vision/ only; never imports torch, fastapi or api/."""
