"""The models that ship with binwatch: ONNX files with embedded metadata, and their cards."""
