"""One small module per file format; `knowledge_base.loaders` is the registry over them."""
