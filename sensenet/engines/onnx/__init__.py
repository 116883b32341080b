"""The ONNX engine: a model spec compiled straight into an ONNX graph, run by onnxruntime.

Nothing here imports TensorFlow; `onnx` and `onnxruntime` are imported only
when a graph is built or a session started, never at `import sensenet`.
"""
