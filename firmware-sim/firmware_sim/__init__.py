"""firmware-sim: simulated homes, residents and sensors, played live over MQTT or written to files."""
