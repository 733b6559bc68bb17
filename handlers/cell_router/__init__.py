"""Serverless cell router: dispatcher, scaler, mapper, validator, registrar."""
