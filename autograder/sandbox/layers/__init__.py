"""The isolation layers, one module each."""
