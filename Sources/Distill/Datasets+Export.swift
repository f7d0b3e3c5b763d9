// Distill trains on Datasets' examples and templates: `import Distill` brings them in too.
@_exported import Datasets
