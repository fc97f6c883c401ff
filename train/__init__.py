"""Dataset manifests, augmentation, model builders, training, evaluation, ONNX export.
Builds on vision/ and torch."""
