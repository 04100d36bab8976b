"""Sensor network: gateways, wire protocol, BLE decoders, the gateway agent, the simulator, ingest,
environmental sensors, readings and alarms."""
