"""PLC protocol adapters behind one TagSource interface (OPC UA, Modbus TCP)."""
