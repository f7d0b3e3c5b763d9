import Formats

/// Errors a user can reach while loading, converting or training a tokenizer. Each message names
/// the file or key involved, what was found, what is supported, and how to fix it.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The message, cut to `ErrorText.maxMessage` characters (it may quote text from the file).
    public init(_ description: String) { self.description = ErrorText.clip(description) }
}
