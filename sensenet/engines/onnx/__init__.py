"""The ONNX engine: a model spec compiled straight into an ONNX graph, run by onnxruntime.

Nothing here imports TensorFlow or the `onnx` package (`proto` writes the graph's bytes);
`onnxruntime` is imported only when a session starts, never at `import sensenet`.
"""
