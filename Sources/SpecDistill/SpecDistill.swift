// The umbrella module: `import SpecDistill` brings in every public module of the package.
@_exported import Tensor
