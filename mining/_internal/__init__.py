"""Private helpers shared by the engine's stages."""
