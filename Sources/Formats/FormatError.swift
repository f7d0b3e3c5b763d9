import Foundation

/// Everything that can go wrong while reading or writing a safetensors or GGUF file. Every case
/// names the file, what is wrong with it and what to do about it (see `description`).
public enum FormatError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened, mapped, written or renamed (`detail` is the system's reason).
    case io(file: String, operation: String, detail: String)
    /// The file ends before a structure that must be there (`what`, at byte `offset`).
    case truncated(file: String, what: String, offset: Int, needed: Int, fileSize: Int)
    /// A safetensors header length that does not fit in the file.
    case headerLengthOutOfRange(file: String, headerLength: UInt64, fileSize: Int)
    /// A safetensors header that is not a JSON object, or whose entries are malformed.
    case invalidHeader(file: String, problem: String)
    /// A safetensors dtype string this reader does not know.
    case unknownDType(file: String, tensor: String, dtype: String, supported: [String])
    /// A tensor whose byte range does not match shape × dtype size.
    case byteSizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expected: Int, actual: Int)
    /// A tensor whose byte range lies (partly) outside the data section of the file.
    case offsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// Two tensors whose byte ranges overlap.
    case overlappingTensors(file: String, first: String, second: String)
    /// A tensor name not in the file.
    case missingTensor(file: String, name: String, available: [String])
    /// A caller asked for a different number of elements than the tensor holds.
    case countMismatch(file: String, tensor: String, expected: Int, requested: Int)
    /// A GGUF file not starting with the bytes "GGUF".
    case badMagic(file: String, found: [UInt8])
    /// A GGUF version other than 2 or 3.
    case unsupportedVersion(file: String, version: UInt32)
    /// A ggml tensor type that cannot be read (`typeName` may be a number when it is not a known ggml type).
    case unsupportedTensorType(file: String, tensor: String, typeName: String, supported: [String])
    /// A GGUF metadata value kind that does not exist (or an array whose kinds are mixed, when writing).
    case invalidValueType(file: String, key: String, code: UInt32)
    /// A count read from a file (or a length, a dimension) that cannot be right: it would need
    /// more bytes than the file has, or it passes a hard limit.
    case absurdCount(file: String, what: String, count: UInt64, limit: UInt64)
    /// A tensor whose row length (GGUF ne[0]) is not a whole number of quantisation blocks.
    case notBlockMultiple(file: String, tensor: String, rowLength: Int, blockSize: Int, typeName: String)
    /// Two tensors (or metadata keys) with the same name.
    case duplicateName(file: String, name: String)
    /// `general.alignment` that is not a positive power of two, or a tensor offset that is not a multiple of it.
    case badAlignment(file: String, problem: String)

    public var description: String { ErrorText.clip(message) }

    private var message: String {
        switch self {
        case let .io(file, operation, detail):
            return "\(file): cannot \(operation): \(detail). Check that the path exists and is readable/writable."
        case let .truncated(file, what, offset, needed, fileSize):
            return "\(file): file is truncated: \(what) at byte \(offset) needs \(needed) bytes but the file has \(fileSize). Re-download or re-write the file."
        case let .headerLengthOutOfRange(file, headerLength, fileSize):
            return "\(file): safetensors header length \(headerLength) does not fit in the \(fileSize)-byte file (8 + header must be ≤ file size). The file is truncated or not a safetensors file."
        case let .invalidHeader(file, problem):
            return "\(file): invalid safetensors header: \(problem). The file is corrupt or not a safetensors file; re-write it."
        case let .unknownDType(file, tensor, dtype, supported):
            return "\(file): tensor '\(tensor)' has unknown dtype '\(dtype)'; supported: \(supported.joined(separator: ", ")). Convert the tensor to F32/F16/BF16 before loading."
        case let .byteSizeMismatch(file, tensor, shape, dtype, expected, actual):
            return "\(file): tensor '\(tensor)' (\(dtype), shape \(shape)) should take \(expected) bytes but its data range has \(actual). The header is inconsistent; re-write the file."
        case let .offsetsOutOfRange(file, tensor, begin, end, dataSize):
            return "\(file): tensor '\(tensor)' occupies bytes \(begin)..<\(end) of the data section, which has \(dataSize) bytes. The file is truncated or its header is corrupt; re-download or re-write it."
        case let .overlappingTensors(file, first, second):
            return "\(file): tensors '\(first)' and '\(second)' overlap in the data section. The file is corrupt; re-write it."
        case let .missingTensor(file, name, available):
            let shown = available.prefix(8).joined(separator: ", ")
            let more = available.count > 8 ? ", … (\(available.count) in all)" : ""
            return "\(file): no tensor named '\(name)'; available: \(shown)\(more). Check the name mapping for this architecture."
        case let .countMismatch(file, tensor, expected, requested):
            return "\(file): tensor '\(tensor)' has \(expected) elements but \(requested) were requested. Allocate the destination with the tensor's element count."
        case let .badMagic(file, found):
            let hex = found.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "\(file): not a GGUF file: the first bytes are [\(hex)], expected \"GGUF\" (47 47 55 46). Pass a .gguf file (safetensors files load with SafetensorsFile)."
        case let .unsupportedVersion(file, version):
            let hint = version == 1
                ? "GGUF v1 used 32-bit counts; re-convert the model with a current llama.cpp convert script."
                : (version > 0xFFFF ? "The number looks byte-swapped: big-endian GGUF files are not supported." : "Only versions 2 and 3 are supported.")
            return "\(file): unsupported GGUF version \(version). \(hint)"
        case let .unsupportedTensorType(file, tensor, typeName, supported):
            return "\(file): tensor '\(tensor)' has ggml type \(typeName), which cannot be dequantised here; supported: \(supported.joined(separator: ", ")). Re-quantise the model to one of these (llama-quantize)."
        case let .invalidValueType(file, key, code):
            return "\(file): metadata '\(key)' has value type \(code), which is not a GGUF value type (0–12) or mixes kinds in one array. The file is corrupt; re-download it."
        case let .absurdCount(file, what, count, limit):
            return "\(file): \(what) is \(count), more than the \(limit) this file can hold. The file is corrupt or truncated; re-download it."
        case let .notBlockMultiple(file, tensor, rowLength, blockSize, typeName):
            return "\(file): tensor '\(tensor)' has rows of \(rowLength) elements (ne[0]), not a multiple of the \(typeName) block size \(blockSize). The file is corrupt; re-quantise the model."
        case let .duplicateName(file, name):
            return "\(file): the name '\(name)' appears twice. The file is corrupt; re-write it with unique names."
        case let .badAlignment(file, problem):
            return "\(file): \(problem). The file is corrupt; re-write it."
        }
    }
}
