// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "specdistill",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "SpecDistill", targets: ["SpecDistill"]),
        .executable(name: "specdistill", targets: ["specdistill"]),
        .executable(name: "specdistill-fuzz", targets: ["specdistill-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // OpenBLAS + LAPACKE through pkg-config (Debian: libopenblas-dev, liblapacke-dev).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // Open MPI through pkg-config (Debian: libopenmpi-dev, openmpi-bin for mpirun).
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        // C functions over MPI_COMM_WORLD (MPI's handles are macros Swift cannot import).
        .target(name: "CMPIShim", dependencies: ["CMPI"]),
        // Data parallelism: rank, size, all-reduce, broadcast; one process = a no-op communicator.
        // (Not "Distributed": that name is Swift's distributed-actors module.)
        .target(name: "Cluster", dependencies: ["CMPIShim"]),
        // Hand-written C kernels (AVX2/FMA with runtime dispatch and a portable fallback).
        .target(name: "CKernels"),
        // Float32 tensors, BLAS-backed and hand-written kernels with references, RNG, threads.
        .target(name: "Tensor", dependencies: ["CBLAS", "CKernels"]),
        // File formats without tensor dependency: safetensors, GGUF (reader, dequantisation).
        .target(name: "Formats"),
        // tokenizer.json BPE (byte-level and sentencepiece-style), GGUF vocabularies, trainer.
        .target(name: "Tokenizers", dependencies: ["Formats"]),
        // Decoder models, training forward/backward, KV-cache inference, sampling, AdamW, model files.
        .target(name: "Transformer", dependencies: ["Tensor", "CKernels", "Formats", "Tokenizers"]),
        // JSONL datasets, prompt templates (ChatML once), task preparation, the target's own
        // responses as data.
        .target(name: "Datasets", dependencies: ["Formats", "Tensor", "Tokenizers", "Transformer"]),
        // Objectives (cross-entropy, distillation divergences), the trainers, the teacher cache.
        .target(name: "Distill", dependencies: ["Transformer", "Datasets", "Cluster"]),
        // Benchmarks of the runtime and of a distillation step against the same-run sgemm bound
        // (`bench model`, `bench distill`).
        .target(name: "Benchmarks", dependencies: ["Tensor", "Transformer", "Distill"]),
        // Plain and speculative decoding: acceptance rules, draft-length schedules, statistics.
        .target(name: "SpecDecode", dependencies: ["Transformer"]),
        // Dependency-free SVG charts: grouped bars, lines, labelled scatter.
        .target(name: "Plots"),
        // Task metrics (exact match, ROUGE-L, pass@1), the evaluation runner over drafts and tasks,
        // result tables and charts.
        .target(name: "Evaluation", dependencies: ["Tokenizers", "Transformer", "Distill", "SpecDecode", "Plots"]),
        .target(name: "SpecDistill", dependencies: ["Cluster", "Tensor", "Formats", "Tokenizers", "Transformer", "Datasets", "Distill", "Benchmarks", "SpecDecode",
                                                    "Plots", "Evaluation"]),
        .executableTarget(
            name: "specdistill",
            dependencies: [
                "SpecDistill",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Structure-aware fuzzing of every loader (seeds written in-process, mutations, targets).
        .target(name: "FuzzKit", dependencies: ["Formats", "Tensor", "Tokenizers", "Transformer", "Distill"]),
        // The fuzzing campaign: children run batches of inputs under time and memory limits.
        .executableTarget(name: "specdistill-fuzz", dependencies: ["FuzzKit"]),
        .executableTarget(name: "BasicUsage", dependencies: ["SpecDistill"], path: "Examples/BasicUsage"),
        .target(name: "TestSupport", dependencies: ["Tensor"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Formats", "Tensor", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Formats", "Tokenizers", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "DistillTests", dependencies: ["Distill", "TestSupport"]),
        .testTarget(name: "SpecDecodeTests", dependencies: ["SpecDecode", "Transformer", "TestSupport"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzKit", "Formats", "Tensor", "Tokenizers", "Transformer", "Distill"]),
        // Runs the built specdistill binary (beside the test bundle) on tiny models it makes itself.
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Plots", "Transformer", "TestSupport"],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
