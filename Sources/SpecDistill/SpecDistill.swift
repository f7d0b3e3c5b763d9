// The umbrella module: `import SpecDistill` brings in every public module of the package.
@_exported import Benchmarks
@_exported import Cluster
@_exported import Datasets
@_exported import Distill
@_exported import Evaluation
@_exported import Formats
@_exported import Plots
@_exported import SpecDecode
@_exported import Tensor
@_exported import Tokenizers
@_exported import Transformer
