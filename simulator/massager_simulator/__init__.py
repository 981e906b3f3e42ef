"""Virtual neck-massager firmware: the device side of the protocol contract."""
