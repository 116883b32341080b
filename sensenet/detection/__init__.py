"""Object detection after the network: YOLO boxes decoded and suppressed as BigML does, in numpy."""
