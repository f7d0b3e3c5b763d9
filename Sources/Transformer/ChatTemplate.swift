import Foundation
import Formats

/// One message of a chat: `role` is "system", "user" or "assistant".
public struct ChatMessage: Equatable, Sendable, Codable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// The ChatML chat template of instruct models such as SmolLM2 and Qwen2, without a Jinja engine.
///
/// Rendering: every message becomes `<|im_start|>ROLE\nCONTENT<|im_end|>\n`; with
/// `addGenerationPrompt` the text ends with `<|im_start|>assistant\n`, where the model continues.
/// Some templates insert a default system message when the first message is not a system
/// message (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
/// ``defaultSystemPrompt`` holds it, read from the template source.
///
/// Sources of the template (``find(forModelAt:)``): the GGUF key `tokenizer.chat_template`, or
/// `chat_template` in a model directory's `tokenizer_config.json`, or its `chat_template.jinja`.
public struct ChatTemplate: Equatable, Sendable {
    /// Inserted as a system message when the conversation does not start with one.
    public var defaultSystemPrompt: String?

    public init(defaultSystemPrompt: String? = nil) { self.defaultSystemPrompt = defaultSystemPrompt }

    /// Plain ChatML with no default system message.
    public static let chatML = ChatTemplate()

    /// Recognises a Jinja chat template as ChatML and reads its default system message.
    ///
    /// A template is ChatML when it writes `<|im_start|>` and `<|im_end|>` around messages. The
    /// default system message is the string literal that starts with `<|im_start|>system` inside
    /// a branch taken when the first role is not "system" (`!= 'system'`).
    /// - Parameter source: where the template came from, for error messages.
    /// - Throws: ``ModelError`` when the template is not ChatML (only ChatML is rendered).
    public init(jinja template: String, source: String) throws {
        guard template.contains("<|im_start|>"), template.contains("<|im_end|>") else {
            let head = template.prefix(120).replacingOccurrences(of: "\n", with: "\\n")
            throw ModelError.file("\(source): the chat template is not ChatML (no <|im_start|> … <|im_end|>): \"\(head)…\"; only ChatML is supported — run without --chat and format the prompt yourself")
        }
        var system: String?
        if template.contains("!= 'system'") || template.contains("!= \"system\"") {
            system = Self.literalSystemPrompt(in: template)
        }
        self.defaultSystemPrompt = system
    }

    /// The text of a Jinja string literal `'<|im_start|>system\n…<|im_end|>…'` in `template`.
    static func literalSystemPrompt(in template: String) -> String? {
        for quote in ["'", "\""] {
            let opening = quote + "<|im_start|>system"
            guard let start = template.range(of: opening) else { continue }
            // Read the literal up to its closing quote, undoing Jinja/Python escapes.
            var text = "", escaped = false
            for ch in template[start.upperBound...] {
                if escaped {
                    switch ch { case "n": text.append("\n"); case "t": text.append("\t"); default: text.append(ch) }
                    escaped = false
                } else if ch == "\\" {
                    escaped = true
                } else if String(ch) == quote {
                    break
                } else {
                    text.append(ch)
                }
            }
            guard text.hasPrefix("\n"), let end = text.range(of: "<|im_end|>") else { continue }
            return String(text[text.index(after: text.startIndex)..<end.lowerBound])
        }
        return nil
    }

    /// The prompt text for `messages`.
    /// - Parameter addGenerationPrompt: end with `<|im_start|>assistant\n` for the model to continue.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var s = ""
        if let system = defaultSystemPrompt, messages.first?.role != "system" {
            s += "<|im_start|>system\n\(system)<|im_end|>\n"
        }
        for m in messages { s += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { s += "<|im_start|>assistant\n" }
        return s
    }

    /// The chat template that a model path carries: nil when it has none.
    /// - Parameter path: a GGUF file or a Hugging Face model directory.
    /// - Throws: ``ModelError`` when a template is present but not ChatML, or the file is unreadable.
    public static func find(forModelAt path: String) throws -> ChatTemplate? {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        guard let source = try templateSource(forModelAt: url) else { return nil }
        return try ChatTemplate(jinja: source.text, source: source.file)
    }

    /// The raw Jinja template text of a model path and the file it came from.
    public static func templateSource(forModelAt url: URL) throws -> (text: String, file: String)? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ModelError.file("\(url.path): no such file or directory; pass a Hugging Face model directory or a .gguf file")
        }
        if !isDir.boolValue {
            let file = try GGUFFile(url: url)
            return file["tokenizer.chat_template"]?.string.map { ($0, url.path + " (tokenizer.chat_template)") }
        }
        let jinja = url.appendingPathComponent("chat_template.jinja")
        if let text = try? String(contentsOf: jinja, encoding: .utf8) { return (text, jinja.path) }
        let configURL = url.appendingPathComponent("tokenizer_config.json")
        guard let data = try? Data(contentsOf: configURL) else { return nil }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError.file("\(configURL.path): not a JSON object")
        }
        if let text = object["chat_template"] as? String { return (text, configURL.path + " (chat_template)") }
        if let list = object["chat_template"] as? [[String: Any]],
           let text = list.first(where: { $0["name"] as? String == "default" })?["template"] as? String {
            return (text, configURL.path + " (chat_template 'default')")
        }
        return nil
    }
}
