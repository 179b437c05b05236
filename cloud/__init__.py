"""Cloud side: decode, validate, de-duplicate, segment gait, write to InfluxDB."""
