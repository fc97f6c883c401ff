"""binwatch's shared vision core: taxonomy and profiles, model metadata, preprocessing, the
ONNX Runtime classifier, verdicts and the event contract. Imports numpy, opencv, onnxruntime
and pydantic only; edge/, api/ and train/ all build on it."""
